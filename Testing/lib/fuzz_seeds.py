"""Valid small image files of every format the readers take, and ways to damage them; shared by
``test_reader_fuzz.py`` (hypothesis, few examples) and ``benchmarks/fuzz_readers.py`` (long run)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import SimpleITK as sitk

from bad_input_cases import png_bytes

Seeds = Dict[str, Tuple[str, bytes]]
"""name -> (file extension, bytes)."""
EXTREME_WORDS = (b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff")


def _written(image: sitk.Image, suffix: str, compress: bool) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"seed{suffix}"
        sitk.WriteImage(image, str(path), compress)
        return path.read_bytes()


def make_seeds() -> Seeds:
    """One valid file per format variant: PNG grey/RGB/16-bit/palette, NIfTI (.nii, .nii.gz, float and
    int16), NRRD (raw, gzip), MetaImage (raw, zlib), DICOM (one slice)."""
    rng = np.random.default_rng(0)
    volume = sitk.GetImageFromArray((rng.random((4, 12, 10)) * 1000 - 500).astype(np.int16))
    volume.SetSpacing((0.5, 0.7, 2.0))
    floats = sitk.Cast(volume, sitk.sitkFloat32)
    grey = (rng.random((12, 10)) * 255).astype(np.uint8)
    seeds: Seeds = {
        "png_grey": (".png", _written(sitk.GetImageFromArray(grey), ".png", False)),
        "png_rgb": (".png", _written(sitk.GetImageFromArray(np.stack([grey, grey[::-1], 255 - grey], -1),
                                                            isVector=True), ".png", False)),
        "png_16bit": (".png", png_bytes(10, 12, 16, 0, [r.astype(">u2").tobytes() for r in grey.astype(np.uint16) * 250])),
        "png_palette": (".png", png_bytes(10, 12, 8, 3, [(row // 64).tobytes() for row in grey],
                                          bytes([0, 0, 0, 90, 90, 90, 200, 40, 40, 255, 255, 255]))),
        "nii_int16": (".nii", _written(volume, ".nii", False)),
        "nii_float": (".nii", _written(floats, ".nii", False)),
        "niigz_float": (".nii.gz", _written(floats, ".nii.gz", True)),
        "nrrd_raw": (".nrrd", _written(volume, ".nrrd", False)),
        "nrrd_gzip": (".nrrd", _written(volume, ".nrrd", True)),
        "mha_raw": (".mha", _written(volume, ".mha", False)),
        "mha_zlib": (".mha", _written(volume, ".mha", True)),
        "dicom": (".dcm", _written(volume[:, :, 1], ".dcm", False)),
    }
    return seeds


def mutate(data: bytes, rng: np.random.Generator, header_bytes: int = 400) -> bytes:
    """1-6 random damages: byte changes (mostly in the header), a 4-byte word set to an extreme value,
    truncation, or inserted junk."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 7))):
        kind = rng.random()
        span = min(len(out), header_bytes) if rng.random() < 0.8 else len(out)
        if kind < 0.45 and span:
            out[int(rng.integers(span))] = int(rng.integers(256))
        elif kind < 0.65 and span > 4:
            at = int(rng.integers(span - 4))
            out[at:at + 4] = EXTREME_WORDS[int(rng.integers(len(EXTREME_WORDS)))]
        elif kind < 0.85:
            del out[int(rng.integers(len(out) + 1)):]
        else:
            at = int(rng.integers(len(out) + 1))
            out[at:at] = rng.bytes(int(rng.integers(1, 9)))
    return bytes(out)
