"""Resampling onto a reference grid, background values and grid comparison.

All geometry is SimpleITK's: physical points in LPS mm, and a transform passed to
``resample_to_reference`` maps *reference* physical points to *moving* physical points
(the ITK resampling convention, as returned by ``register_volumes``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError
from .transforms import load_transform, save_transform

__all__ = ["MODALITIES", "background_value", "check_image", "check_modality", "coverage_on_reference", "grids_match",
           "identity_transform", "load_transform", "resample_to_reference", "same_grid", "save_transform"]

MODALITIES = ("ct", "mri", "pet", "spect")
"""Modality names understood by the geometry functions."""

CT_AIR_HU = -1000.0


def check_modality(modality: str) -> str:
    """Return ``modality`` lower-cased, or raise FusionInputError if it is not one of ``MODALITIES``."""
    name = str(modality).lower()
    if name not in MODALITIES:
        raise FusionInputError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    return name


def check_image(image: sitk.Image, label: str) -> None:
    """Raise FusionInputError unless ``image`` is a non-empty 2D or 3D SimpleITK image."""
    if not isinstance(image, sitk.Image):
        raise FusionInputError(f"{label}: expected a SimpleITK image, got {type(image).__name__}")
    if image.GetDimension() not in (2, 3):
        raise FusionInputError(f"{label}: only 2D and 3D images are supported, got {image.GetDimension()}D")
    if image.GetNumberOfPixels() == 0 or min(image.GetSize()) < 1:
        raise FusionInputError(f"{label}: the image is empty (size {image.GetSize()})")


def _minimum(image: sitk.Image) -> float:
    """Smallest voxel value over all components."""
    if image.GetNumberOfComponentsPerPixel() > 1:
        return float(np.min(sitk.GetArrayViewFromImage(image)))
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    return float(stats.GetMinimum())


def background_value(image: sitk.Image, modality: str) -> float:
    """The value of empty space: CT -1000 HU (or the image minimum if higher); MRI/PET/SPECT the minimum (often 0)."""
    check_image(image, "background_value")
    modality = check_modality(modality)
    minimum = _minimum(image)
    if modality == "ct":
        return max(CT_AIR_HU, minimum)
    return minimum


def same_grid(a: sitk.Image, b: sitk.Image, tol: float = 1e-6) -> bool:
    """True when ``a`` and ``b`` have the same dimension and size, and spacing, origin (mm) and direction
    within ``tol``."""
    if a.GetDimension() != b.GetDimension() or tuple(a.GetSize()) != tuple(b.GetSize()):
        return False
    for get in (sitk.Image.GetSpacing, sitk.Image.GetOrigin, sitk.Image.GetDirection):
        if not np.allclose(get(a), get(b), rtol=0.0, atol=tol):
            return False
    return True


SPACING_RTOL = 1e-5
"""Relative tolerance on voxel sizes and direction cosines in :func:`grids_match`: NIfTI stores them as float32
(1.8 mm is read back as 1.7999999523 mm), DICOM and NRRD as decimal text."""
ORIGIN_VOXEL_FRACTION = 1e-3
"""Origins match in :func:`grids_match` when they differ by less than this fraction of the smallest voxel size."""


def grids_match(a: sitk.Image, b: sitk.Image) -> bool:
    """True when ``a`` and ``b`` are on the same grid up to the rounding of their file formats: same size,
    spacing within ``SPACING_RTOL`` (relative), direction within ``SPACING_RTOL``, origin within
    ``ORIGIN_VOXEL_FRACTION`` of a voxel."""
    if a.GetDimension() != b.GetDimension() or tuple(a.GetSize()) != tuple(b.GetSize()):
        return False
    spacing_a, spacing_b = np.array(a.GetSpacing()), np.array(b.GetSpacing())
    origin_tol = ORIGIN_VOXEL_FRACTION * float(min(spacing_a.min(), spacing_b.min()))
    return (np.allclose(spacing_a, spacing_b, rtol=SPACING_RTOL, atol=0.0)
            and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0.0, atol=SPACING_RTOL)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0.0, atol=origin_tol))


def identity_transform(dimension: int) -> sitk.Transform:
    """An identity transform of ``dimension`` (2 or 3)."""
    return sitk.Transform(dimension, sitk.sitkIdentity)


def resample_to_reference(moving: sitk.Image, reference: sitk.Image, transform: Optional[sitk.Transform] = None,
                          default_value: float = 0.0, interpolator: int = sitk.sitkLinear) -> sitk.Image:
    """``moving`` resampled onto exactly the grid of ``reference`` (size, spacing, origin, direction).

    ``transform`` maps reference physical points (LPS mm) to moving ones; None means identity.
    Voxels that map outside ``moving`` get ``default_value`` (use ``background_value``). On the
    same grid (within 1e-6) with no transform, the voxels are copied without interpolation.
    Scalar images come back as float32, multi-component images (RGB) as vector float32.
    """
    check_image(moving, "moving image")
    check_image(reference, "reference image")
    dimension = reference.GetDimension()
    if moving.GetDimension() != dimension:
        raise FusionInputError(f"cannot resample a {moving.GetDimension()}D image onto a {dimension}D reference")
    if transform is not None and transform.GetDimension() != dimension:
        raise FusionInputError(f"a {transform.GetDimension()}D transform cannot map a {dimension}D reference")
    vector = moving.GetNumberOfComponentsPerPixel() > 1
    pixel = sitk.sitkVectorFloat32 if vector else sitk.sitkFloat32
    source = sitk.Cast(moving, pixel) if moving.GetPixelID() != pixel else moving
    if transform is None and same_grid(moving, reference):
        exact = sitk.Image(source)
        exact.CopyInformation(reference)
        return exact
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(reference.GetSize())
    resampler.SetOutputSpacing(reference.GetSpacing())
    resampler.SetOutputOrigin(reference.GetOrigin())
    resampler.SetOutputDirection(reference.GetDirection())
    resampler.SetTransform(transform if transform is not None else identity_transform(dimension))
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(float(default_value))
    resampler.SetOutputPixelType(pixel)
    return resampler.Execute(source)


def coverage_on_reference(moving: sitk.Image, reference: sitk.Image,
                          transform: Optional[sitk.Transform] = None) -> Optional[np.ndarray]:
    """Where ``moving`` has data on the grid of ``reference``: a bool array in SimpleITK's (z, y, x) order, True
    for the voxels that :func:`resample_to_reference` (same ``transform``) takes from inside ``moving``, False
    for those that get its default value because they map outside it. None when every voxel is covered (the
    same grid, or a ``moving`` image around all of ``reference``)."""
    check_image(moving, "moving image")
    check_image(reference, "reference image")
    if transform is None and same_grid(moving, reference):
        return None
    inside = sitk.Image(moving.GetSize(), sitk.sitkUInt8) + 1
    inside.CopyInformation(moving)
    mapped = sitk.Resample(inside, reference, transform if transform is not None else
                           identity_transform(reference.GetDimension()), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    covered = sitk.GetArrayViewFromImage(mapped) != 0
    return None if covered.all() else covered
