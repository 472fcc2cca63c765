"""Reading and writing images with SimpleITK: 2D pictures (PNG/JPEG/TIFF/BMP), volumes (NIfTI, NRRD,
MHA/MHD) and DICOM series folders. Every failure is one FusionInputError line naming the file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_output, atomic_output_files, disk_full_error
from ..errors import FusionInputError, FusionRuntimeError, FusionWarning
from ..memory import require_memory
from .colour import is_grey, rgb_to_ycbcr, ycbcr_to_rgb
from .dicom import check_element_lengths, read_dicom_series
from .file_names import HEADER_AND_DATA_EXTENSIONS, PathLike, extension
from .file_checks import (NIFTI_EXTENSIONS, check_declared_size, check_nifti_complete, check_nifti_geometry,
                          check_png_chunks)
from .intensity import IntensityWindow, check_finite_and_varied, window_for
from .native_messages import last_message, native_stderr
from .parallel_gzip import gzip_file
from .png_grey_alpha import is_grey_alpha_png, read_grey_alpha_png

FORMAT_NAMES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
                ".nii": "NIfTI", ".nii.gz": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
                ".mhd": "MetaImage", ".dcm": "DICOM"}
READ_ERRORS = (RuntimeError, MemoryError, OverflowError)
IMAGE_IOS = {".png": "PNGImageIO", ".jpg": "JPEGImageIO", ".jpeg": "JPEGImageIO", ".tif": "TIFFImageIO",
             ".tiff": "TIFFImageIO", ".bmp": "BMPImageIO", ".nii": "NiftiImageIO", ".nii.gz": "NiftiImageIO",
             ".nrrd": "NrrdImageIO", ".nhdr": "NrrdImageIO", ".mha": "MetaImageIO", ".mhd": "MetaImageIO"}
"""The reader of each extension, named when the file's extension is not lower-case (ITK's MetaImage reader
does not recognise 'T.MHA'; extensions are case-insensitive for the user), and for a file with the PNG signature
(ITK would ask each of its readers whether it can read the file: 0.1-0.5 ms of a 256x256 picture's 2-4 ms)."""


def _itk_reason(err: Exception, messages: List[str], path: Path) -> str:
    """The useful part of an ITK exception, preferring what the C libraries printed."""
    text = str(err).replace(f": {path}", "")
    if "Unable to determine ImageIO reader" in text:
        return "not an image format SimpleITK can read"
    native = last_message(messages)
    if native:
        return native
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "Exception thrown" not in ln]
    reason = (lines or ["unknown error"])[-1].split("):", 1)[-1].strip()
    return "" if reason.startswith("Error while reading") else reason[:200]


def _detail(err: Exception, messages: List[str], path: Path) -> str:
    reason = _itk_reason(err, messages, path)
    return f" ({reason})" if reason else ""


def _component_bytes(pixel_id: int) -> int:
    return sitk.Image([1, 1], pixel_id).GetSizeOfPixelComponent()


def _check_header(path: Path, reader: sitk.ImageFileReader) -> None:
    """Refuse complex pixels, empty sizes, corrupt size fields and images too large to load."""
    pixel_type = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    if "complex" in pixel_type:
        raise FusionInputError(f"{path}: {pixel_type} pixels are not supported; give a real-valued image")
    size = reader.GetSize()
    if not size or any(s == 0 for s in size):
        raise FusionInputError(f"{path}: image has no voxels (size {size})")
    count = 1
    for s in size:
        count *= int(s)
    declared = count * reader.GetNumberOfComponents() * _component_bytes(reader.GetPixelID())
    check_declared_size(path, extension(path), declared)
    require_memory(declared, str(path), "it is too large to load on this machine; crop or resample it first")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _read_file(path: Path) -> sitk.Image:
    if path.stat().st_size == 0:
        raise FusionInputError(f"{path}: file is empty (0 bytes)")
    ext = extension(path)
    nonfinite: Optional[np.ndarray] = None
    if ext == ".nii" and _is_gzip(path):
        raise FusionInputError(f"{path}: is gzip-compressed but named .nii; rename it to {path.name}.gz")
    if ext in NIFTI_EXTENSIONS:
        nonfinite = check_nifti_complete(path)
        check_nifti_geometry(path)
    png = ext == ".png" and check_png_chunks(path)
    if png and is_grey_alpha_png(path):
        return read_grey_alpha_png(path)
    check_element_lengths(path)
    kind = FORMAT_NAMES.get(ext, "image")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    if (png or path.name != path.name.lower()) and ext in IMAGE_IOS:
        reader.SetImageIO(IMAGE_IOS[ext])
    with native_stderr() as messages:
        try:
            reader.ReadImageInformation()
        except READ_ERRORS as err:
            raise FusionInputError(f"{path}: not a readable {kind} file{_detail(err, messages, path)}") from None
    _check_header(path, reader)
    with native_stderr() as messages:
        try:
            image = reader.Execute()
        except READ_ERRORS as err:
            raise FusionInputError(f"{path}: corrupt or truncated {kind} file{_detail(err, messages, path)}") from None
    return nonfinite_as_background(image, str(path), nonfinite)


MAX_NONFINITE_FRACTION = 0.5
"""An image with more than this fraction of NaN/Inf voxels is refused; fewer are treated as background."""


def nonfinite_as_background(image: sitk.Image, name: str, known: Optional[np.ndarray] = None) -> sitk.Image:
    """``image`` with its NaN/Inf voxels set to its smallest finite value (background: air in CT, 0 in most
    MRI and PET), and a FusionWarning giving their count, as SPM, FSL and PET pipelines write NaN outside
    the brain or field of view. ``known``: their flat indices when the reader lost them (ITK reads NIfTI
    NaN as 0). FusionInputError when most voxels are NaN/Inf, or when a vector image has any."""
    floating = image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64, sitk.sitkVectorFloat32,
                                      sitk.sitkVectorFloat64)
    if (known is not None and known.size == 0) or (known is None and not floating):
        return image
    view = sitk.GetArrayViewFromImage(image)
    bad = known if known is not None else np.flatnonzero(~np.isfinite(view.reshape(-1)))
    if bad.size == 0:
        return image
    if image.GetNumberOfComponentsPerPixel() > 1 or view.ndim != image.GetDimension():
        raise FusionInputError(f"{name}: {bad.size} values are NaN or Inf in a vector image; fix or mask them first")
    values = sitk.GetArrayFromImage(image)
    flat = values.reshape(-1)
    if bad.size > MAX_NONFINITE_FRACTION * flat.size:
        raise FusionInputError(f"{name}: {bad.size} of {flat.size} voxels ({100 * bad.size / flat.size:.0f} %) are "
                               "NaN or Inf; too little image is left to fuse")
    good = np.ones(flat.size, bool)
    good[bad] = False
    background = float(flat[good].min())
    flat[bad] = background
    warnings.warn(f"{name}: {bad.size} voxels are NaN or Inf; treated as background ({background:g}, the image's "
                  "smallest value)", FusionWarning, stacklevel=2)
    out = sitk.GetImageFromArray(values)
    out.CopyInformation(image)
    return out


def read_image(path: PathLike) -> sitk.Image:
    """Read a picture, a volume file or a DICOM series folder into a SimpleITK image.

    Never writes to ``path``. Every problem is one FusionInputError line naming the file."""
    path = Path(path)
    if not path.exists():
        raise FusionInputError(f"{path}: no such file or folder")
    try:
        image = read_dicom_series(path) if path.is_dir() else _read_file(path)
    except PermissionError:
        raise FusionInputError(f"{path}: permission denied") from None
    except OSError as err:
        raise FusionInputError(f"{path}: cannot read ({err.strerror or err})") from None
    if any(s == 0 for s in image.GetSize()):
        raise FusionInputError(f"{path}: image has no voxels (size {image.GetSize()})")
    return image


def _write_with_itk(image: sitk.Image, path: Path, tmp: Path, compress: bool) -> None:
    """Write ``image`` to ``tmp`` with SimpleITK and check a NIfTI result holds all its voxel data."""
    with native_stderr() as messages:
        try:
            sitk.WriteImage(image, str(tmp), compress)
        except RuntimeError as err:
            raise disk_full_error(path, err, tmp) or FusionRuntimeError(
                f"{path}: could not write{_detail(err, messages, tmp)}") from None
    if extension(tmp) in NIFTI_EXTENSIONS:
        try:
            check_nifti_complete(tmp)
        except FusionInputError as err:
            raise disk_full_error(path, err, tmp) or FusionRuntimeError(
                f"{path}: the written file is incomplete ({last_message(messages) or 'short write'})") from None


def _write_nifti_gz(image: sitk.Image, path: Path, tmp: Path) -> None:
    """Write an uncompressed NIfTI beside ``tmp`` with SimpleITK (header and geometry), check it, then
    gzip it into ``tmp`` on every core (:mod:`.parallel_gzip`); Python's file writes report every write
    error, ITK's gzip does not. A 512x512x300 float32 volume: ITK's own gzip took 19.5 s, this 1-2 s."""
    raw = tmp.with_name(tmp.name[:-len(".gz")])
    try:
        _write_with_itk(image, path, raw, compress=False)
        gzip_file(raw, tmp)
    finally:
        raw.unlink(missing_ok=True)


def write_image(image: sitk.Image, path: PathLike, compress: bool = True) -> Path:
    """Write ``image`` atomically (temporary file in the same folder, checked complete, then renamed).

    ``compress``: compress formats that can be (.nii.gz always is, .nii never). Extensions are
    case-insensitive. A header + data pair (.mhd, .nhdr) is written in a temporary folder and its data
    file is named after ``path`` (``t.mhd`` + ``t.zraw``). A full disk is a FusionRuntimeError 'disk full
    while writing'; no partial file is left."""
    path = Path(path)
    if extension(path) in HEADER_AND_DATA_EXTENSIONS:
        with atomic_output_files(path) as header:
            _write_with_itk(image, path, header, compress)
        return path
    with atomic_output(path) as tmp:
        if extension(path) == ".nii.gz":
            _write_nifti_gz(image, path, tmp)
        else:
            _write_with_itk(image, path, tmp, compress)
        if tmp.stat().st_size == 0:
            raise FusionRuntimeError(f"{path}: the writer produced an empty file; nothing was written")
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


def _picture_window_modality(array: np.ndarray, eight_bit: bool, modality: str) -> str:
    """8-bit pictures are already windowed ('display'). Unsigned pixels cannot hold Hounsfield units,
    so a wider unsigned CT picture (16-bit PNG/TIFF) is scaled by percentiles, like an MRI."""
    if eight_bit:
        return "display"
    if modality == "ct" and np.issubdtype(array.dtype, np.unsignedinteger):
        return "mri"
    return modality


def picture_from_image(image: sitk.Image, name: str, modality: str) -> Picture:
    """Turn a 2D SimpleITK image into a Picture.

    8-bit images use the fixed 0..255 display window; other integer or float images the window of
    ``modality`` (16-bit unsigned CT pictures: percentiles). Alpha is dropped (grey+alpha is grey).
    RGB/RGBA/palette images whose channels are equal are grey; real colour is fused through YCbCr
    (Y fused, Cb/Cr kept)."""
    if image.GetDimension() != 2:
        raise FusionInputError(f"{name}: expected a 2D image, got {image.GetDimension()}D")
    array = sitk.GetArrayFromImage(image)
    components = image.GetNumberOfComponentsPerPixel()
    eight_bit = image.GetPixelID() in (sitk.sitkUInt8, sitk.sitkVectorUInt8)
    if components not in (1, 2, 3, 4):
        raise FusionInputError(f"{name}: {components} channels per pixel; expected grey, RGB or RGBA")
    if components == 2:
        array, components = array[..., 0], 1
    elif components > 1:
        array = array[..., :3]
        if is_grey(array):
            array, components = array[..., 0], 1
    check_finite_and_varied(array, name)
    if components == 1:
        window = window_for(array, _picture_window_modality(array, eight_bit, modality))
        return Picture(window.normalise(array), window)
    rgb = array.astype(np.float32)
    if eight_bit:
        rgb /= 255.0
    else:
        low = min(0.0, float(rgb.min()))
        rgb = (rgb - low) / (float(rgb.max()) - low)
    y, chroma = rgb_to_ycbcr(rgb)
    return Picture(np.clip(y, 0.0, 1.0), IntensityWindow(0.0, 1.0, "display"), chroma)


def picture_to_image(grey01: np.ndarray, chroma: Optional[np.ndarray] = None) -> sitk.Image:
    """Fused 2D result -> 8-bit SimpleITK image: grey, or RGB when ``chroma`` (H, W, 2) is given."""
    if chroma is None:
        return sitk.GetImageFromArray(np.round(np.clip(grey01, 0, 1) * 255).astype(np.uint8))
    rgb = ycbcr_to_rgb(grey01, chroma)
    return sitk.GetImageFromArray(np.round(rgb * 255).astype(np.uint8), isVector=True)
