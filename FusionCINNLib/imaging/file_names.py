"""Image file names: which extensions are pictures and which are volumes. Imports nothing heavy, so the command
line can check its paths before SimpleITK loads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, os.PathLike]
PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_EXTENSIONS = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
HEADER_AND_DATA_EXTENSIONS = (".nhdr", ".mhd")


def extension(path: PathLike) -> str:
    """Lower-case extension, '.nii.gz' kept whole."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def is_picture_path(path: PathLike) -> bool:
    """True for 2D picture formats (PNG, JPEG, TIFF, BMP)."""
    return extension(path) in PICTURE_EXTENSIONS
