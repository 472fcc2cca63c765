"""The multi-threaded gzip writer: one standard gzip member, bit-exact, with either deflate engine."""

import gzip
import io
import zlib

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.imaging import image_io, parallel_gzip
from FusionCINNLib.imaging.file_checks import nifti_layout

BLOCK = parallel_gzip.BLOCK_BYTES
ENGINES = [pytest.param(name, marks=pytest.mark.skipif(name not in parallel_gzip.engine_names(),
                                                       reason=f"deflate engine {name} (package isal) not installed"))
           for name in ("isal", "zlib")]


def _mixed_bytes(size: int) -> bytes:
    """Random bytes, runs of zeros and repeats, so that every deflate path (literals, matches) is used."""
    rng = np.random.default_rng(size)
    pattern = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    parts, total = [], 0
    while total < size:
        part = (pattern, bytes(3000), rng.integers(0, 256, 7000, dtype=np.uint8).tobytes())[len(parts) % 3]
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def _compress(data: bytes, workers: int, engine: str) -> bytes:
    target = io.BytesIO()
    assert parallel_gzip.gzip_stream(io.BytesIO(data), target, workers, engine) == len(data)
    return target.getvalue()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + BLOCK // 2])
@pytest.mark.parametrize("workers", [1, 3])
def test_output_is_one_gzip_member_holding_exactly_the_input(engine, size, workers):
    data = _mixed_bytes(size)
    out = _compress(data, workers, engine)
    assert gzip.decompress(out) == data
    member = zlib.decompressobj(wbits=31)
    assert member.decompress(out) == data
    assert member.eof and member.unused_data == b"", "more than one gzip member or trailing bytes"


@pytest.mark.parametrize("engine", ENGINES)
def test_each_block_is_primed_with_the_bytes_before_it(engine, monkeypatch):
    pattern = np.random.default_rng(0).integers(0, 256, 16_000, dtype=np.uint8).tobytes()
    data = (pattern * (4 * BLOCK // len(pattern) + 1))[:4 * BLOCK]
    primed = _compress(data, 2, engine)
    deflate = parallel_gzip._deflate_block
    monkeypatch.setattr(parallel_gzip, "_deflate_block",
                        lambda module, level, block, window, last: deflate(module, level, block, b"", last))
    unprimed = _compress(data, 2, engine)
    assert gzip.decompress(primed) == gzip.decompress(unprimed) == data
    assert len(unprimed) - len(primed) > 3 * len(pattern) // 2, "blocks after the first re-sent the pattern"


def test_an_engine_that_is_not_installed_is_refused():
    with pytest.raises(ValueError, match="not installed"):
        parallel_gzip.gzip_stream(io.BytesIO(b"x"), io.BytesIO(), 1, "brotli")


@pytest.mark.parametrize("engine", ENGINES)
def test_written_nifti_gz_is_the_itk_nifti_gzipped_and_reads_back_bit_exactly(engine, tmp_path, monkeypatch):
    if engine == "zlib":
        monkeypatch.setattr(parallel_gzip, "isal_zlib", None)
    voxels = np.random.default_rng(1).normal(size=(40, 60, 70)).astype(np.float32)
    voxels[:5] = 0.0
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing((0.5, 0.625, 1.25))  # exact in float32, as NIfTI stores them
    image.SetOrigin((-90.0, 12.5, 3.0))
    out = image_io.write_image(image, tmp_path / "fused.nii.gz")
    sitk.WriteImage(image, str(tmp_path / "plain.nii"), False)
    content = gzip.decompress(out.read_bytes())
    assert content == (tmp_path / "plain.nii").read_bytes()
    layout = nifti_layout(content[:540])
    assert layout.offset + layout.data_bytes == len(content) and layout.float_dtype == np.dtype("<f4")
    back = sitk.ReadImage(str(out))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back).view(np.uint32), voxels.view(np.uint32))
    assert back.GetSpacing() == image.GetSpacing() and back.GetOrigin() == image.GetOrigin()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fused.nii.gz", "plain.nii"]
