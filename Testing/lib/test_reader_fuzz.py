"""Fuzzing the readers: random bytes, damaged valid files and extreme header fields, read with
``read_image`` (and ``picture_from_image`` for 2D results), must either give an image or raise
FusionInputError; never another exception, a crash, or a huge allocation. The long run is
``benchmarks/fuzz_readers.py``."""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_seeds import make_seeds, mutate
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.imaging.image_io import picture_from_image, read_image

SEEDS = make_seeds()
EXTENSIONS = sorted({ext for ext, _ in SEEDS.values()} | {".jpg", ".tif", ".nhdr"})
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def read_cleanly(path: Path) -> None:
    """Read ``path`` the way the CLI does; anything but an image or FusionInputError fails the test."""
    try:
        image = read_image(path)
        if image.GetDimension() == 2:
            picture_from_image(image, str(path), "mri")
    except FusionInputError as err:
        assert "\n" not in str(err) and str(path) in str(err)


@FUZZ
@given(data=st.binary(max_size=2048), ext=st.sampled_from(EXTENSIONS))
def test_random_bytes(folder, data, ext):
    path = folder / f"random{ext}"
    path.write_bytes(data)
    read_cleanly(path)


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), rng_seed=st.integers(0, 2 ** 32 - 1))
def test_damaged_valid_files(folder, seed, rng_seed):
    ext, data = SEEDS[seed]
    path = folder / f"damaged{ext}"
    path.write_bytes(mutate(data, np.random.default_rng(rng_seed)))
    read_cleanly(path)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


@FUZZ
@given(width=st.integers(0, 2 ** 31 - 1), height=st.integers(0, 2 ** 31 - 1),
       depth=st.sampled_from([1, 2, 4, 8, 16, 3, 0]), colour=st.sampled_from([0, 2, 3, 4, 6, 5]))
def test_png_header_with_valid_crc(folder, width, height, depth, colour):
    """Extreme IHDR fields with a correct CRC, so libpng really parses them."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    path = folder / "header.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", pixels)
                     + _png_chunk(b"IEND", b""))
    read_cleanly(path)


@FUZZ
@given(dims=st.lists(st.integers(-2 ** 15, 2 ** 15 - 1), min_size=8, max_size=8),
       datatype=st.sampled_from([2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 7]),
       bitpix=st.sampled_from([0, 1, 8, 16, 24, 32, 64, 128, 7]),
       offset=st.floats(width=32) | st.sampled_from([352.0, 348.0, 0.0]),
       gzipped=st.booleans())
def test_nifti_header_fields(folder, dims, datatype, bitpix, offset, gzipped):
    """A valid NIfTI-1 file with its dim, datatype, bitpix and vox_offset fields set to anything."""
    data = bytearray(SEEDS["nii_int16"][1])
    data[40:56] = struct.pack("<8h", *dims)
    data[70:74] = struct.pack("<2h", datatype, bitpix)
    data[108:112] = struct.pack("<f", offset)
    path = folder / ("fields.nii.gz" if gzipped else "fields.nii")
    path.write_bytes(zlib.compress(bytes(data), wbits=31) if gzipped else bytes(data))
    read_cleanly(path)


@FUZZ
@given(sizes=st.lists(st.integers(-5, 2 ** 40), min_size=1, max_size=4),
       kind=st.sampled_from(["short", "float", "double", "uchar", "complex", "block"]),
       encoding=st.sampled_from(["raw", "gzip", "bzip2", "ascii", "hex"]))
def test_nrrd_header_fields(folder, sizes, kind, encoding):
    header = (f"NRRD0004\ntype: {kind}\ndimension: {len(sizes)}\nsizes: {' '.join(map(str, sizes))}\n"
              f"encoding: {encoding}\nendian: little\n\n")
    path = folder / "fields.nrrd"
    path.write_bytes(header.encode() + bytes(range(256)))
    read_cleanly(path)


@FUZZ
@given(sizes=st.lists(st.integers(-5, 2 ** 40), min_size=1, max_size=4),
       kind=st.sampled_from(["MET_SHORT", "MET_FLOAT", "MET_UCHAR", "MET_DOUBLE", "MET_OTHER"]),
       channels=st.integers(-1, 2 ** 20), compressed=st.booleans())
def test_metaimage_header_fields(folder, sizes, kind, channels, compressed):
    header = (f"ObjectType = Image\nNDims = {len(sizes)}\nDimSize = {' '.join(map(str, sizes))}\n"
              f"ElementNumberOfChannels = {channels}\nElementType = {kind}\n"
              f"CompressedData = {compressed}\nElementDataFile = LOCAL\n")
    path = folder / "fields.mha"
    path.write_bytes(header.encode() + zlib.compress(bytes(range(256)) * 4))
    read_cleanly(path)
