"""Reading and writing images with SimpleITK: 2D pictures (PNG/JPEG/TIFF/BMP), volumes (NIfTI, NRRD,
MHA/MHD) and DICOM series folders. Every failure is one FusionInputError line naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_output
from ..errors import FusionInputError, FusionRuntimeError
from .colour import is_grey, rgb_to_ycbcr, ycbcr_to_rgb
from .intensity import IntensityWindow, check_finite_and_varied, window_for

PathLike = Union[str, os.PathLike]
PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_EXTENSIONS = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def extension(path: PathLike) -> str:
    """Lower-case extension, '.nii.gz' kept whole."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def is_picture_path(path: PathLike) -> bool:
    """True for 2D picture formats (PNG, JPEG, TIFF, BMP)."""
    return extension(path) in PICTURE_EXTENSIONS


def _read_dicom_folder(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise FusionInputError(f"{folder}: folder holds no DICOM series")
    if len(series) > 1:
        raise FusionInputError(f"{folder}: folder holds {len(series)} DICOM series; put one series per folder")
    files = reader.GetGDCMSeriesFileNames(str(folder), series[0])
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise FusionInputError(f"{folder}: unreadable DICOM series ({_first_line(err)})") from None


def _first_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "itk::ERROR" in ln or "Exception" not in ln]
    text = (useful or lines or ["unknown error"])[-1]
    return text.split("):", 1)[-1].strip()[:200]


def read_image(path: PathLike) -> sitk.Image:
    """Read a picture, a volume file or a DICOM series folder into a SimpleITK image."""
    path = Path(path)
    if not path.exists():
        raise FusionInputError(f"{path}: no such file or folder")
    if path.is_dir():
        image = _read_dicom_folder(path)
    else:
        if path.stat().st_size == 0:
            raise FusionInputError(f"{path}: file is empty (0 bytes)")
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as err:
            raise FusionInputError(f"{path}: not a readable image ({_first_line(err)})") from None
    if any(s == 0 for s in image.GetSize()):
        raise FusionInputError(f"{path}: image has no voxels (size {image.GetSize()})")
    return image


def write_image(image: sitk.Image, path: PathLike, compress: bool = True) -> Path:
    """Write ``image`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), compress)
        except RuntimeError as err:
            raise FusionRuntimeError(f"{path}: could not write ({_first_line(err)})") from None
    return path


@dataclass
class Picture:
    """A 2D picture as fusion input: grey (H, W) float32 in [0, 1], plus chroma when it was colour."""

    grey: np.ndarray
    window: IntensityWindow
    chroma: Optional[np.ndarray] = None

    @property
    def is_colour(self) -> bool:
        return self.chroma is not None


def picture_from_image(image: sitk.Image, name: str, modality: str) -> Picture:
    """Turn a 2D SimpleITK image into a Picture.

    8-bit images use the fixed 0..255 display window; other integer or float images the window of
    ``modality``. RGB/RGBA/palette images whose channels are equal are grey; real colour is fused
    through YCbCr (Y fused, Cb/Cr kept)."""
    if image.GetDimension() != 2:
        raise FusionInputError(f"{name}: expected a 2D image, got {image.GetDimension()}D")
    array = sitk.GetArrayFromImage(image)
    components = image.GetNumberOfComponentsPerPixel()
    eight_bit = image.GetPixelID() in (sitk.sitkUInt8, sitk.sitkVectorUInt8)
    if components not in (1, 3, 4):
        raise FusionInputError(f"{name}: {components} channels per pixel; expected grey, RGB or RGBA")
    if components > 1 and is_grey(array[..., :3]):
        array, components = array[..., 0], 1
    check_finite_and_varied(array, name)
    if components == 1:
        window = window_for(array, "display" if eight_bit else modality)
        return Picture(window.normalise(array), window)
    rgb = array[..., :3].astype(np.float32)
    rgb /= 255.0 if eight_bit else float(rgb.max())
    y, chroma = rgb_to_ycbcr(rgb)
    return Picture(np.clip(y, 0.0, 1.0), IntensityWindow(0.0, 1.0, "display"), chroma)


def picture_to_image(grey01: np.ndarray, chroma: Optional[np.ndarray] = None) -> sitk.Image:
    """Fused 2D result -> 8-bit SimpleITK image: grey, or RGB when ``chroma`` (H, W, 2) is given."""
    if chroma is None:
        return sitk.GetImageFromArray(np.round(np.clip(grey01, 0, 1) * 255).astype(np.uint8))
    rgb = ycbcr_to_rgb(grey01, chroma)
    return sitk.GetImageFromArray(np.round(rgb * 255).astype(np.uint8), isVector=True)
