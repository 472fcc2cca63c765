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


def with_extension(path: PathLike, suffix: str, extension_: str = "") -> Path:
    """``path`` with ``suffix`` added to its name before the extension and that extension replaced by
    ``extension_`` (kept when empty): fused.nii.gz -> fused_colour.nii.gz, or -> fused.json."""
    path = Path(path)
    ext = extension(path)
    name = path.name
    return path.with_name(name[:len(name) - len(ext)] + suffix + (extension_ or name[len(name) - len(ext):]))


def is_picture_path(path: PathLike) -> bool:
    """True for 2D picture formats (PNG, JPEG, TIFF, BMP)."""
    return extension(path) in PICTURE_EXTENSIONS
