"""Registration inputs: a multi-resolution pyramid of scalar float32 images, the anatomy mask, the unit frame.

Levels are made by box-averaging (BinShrink) the input to a target spacing, so a 512x512x300 CT
costs a few cheap passes and registration never works on more voxels than it needs. Each level
is clamped (CT to a HU window, others below a high percentile) and shifted so that background
is 0; all but the finest are Gaussian-smoothed. Geometry stays physical (LPS mm) throughout.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError
from .resampling import background_value

CT_WINDOW_HU = (-1000.0, 2000.0)
"""CT intensities are clamped to this range (HU) before mutual information is computed."""

UPPER_PERCENTILE = 99.9
"""MRI/PET/SPECT intensities above this percentile are clamped (hot spots, bright vessels)."""

COARSE_SMOOTHING = 1.0
"""Gaussian sigma of every level but the finest, in units of the level's spacing: widens the capture range."""

FOREGROUND_FRACTION = 0.05
"""Metric samples are drawn where the fixed image exceeds this fraction of its bright end (the anatomy)."""

MIN_VOXELS_PER_AXIS = 4
MIN_RADIUS_MM = 10.0
_LUMA = (0.299, 0.587, 0.114)

_SCALAR_TYPES = {sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32,
                 sitk.sitkInt32, sitk.sitkUInt64, sitk.sitkInt64, sitk.sitkFloat32, sitk.sitkFloat64}


def to_scalar(image: sitk.Image, label: str) -> sitk.Image:
    """``image`` as one scalar channel: RGB(A) becomes luminance (Rec. 601), other vectors their mean."""
    components = image.GetNumberOfComponentsPerPixel()
    if components == 1:
        if image.GetPixelID() not in _SCALAR_TYPES:
            raise FusionInputError(f"{label}: pixel type {image.GetPixelIDTypeAsString()} is not supported")
        return image
    channels = [sitk.VectorIndexSelectionCast(image, c, sitk.sitkFloat32) for c in range(components)]
    if components in (3, 4):
        return channels[0] * _LUMA[0] + channels[1] * _LUMA[1] + channels[2] * _LUMA[2]
    total = channels[0]
    for channel in channels[1:]:
        total = total + channel
    return total / float(components)


def check_extent(image: sitk.Image, label: str) -> None:
    """Raise FusionInputError when an axis has fewer than ``MIN_VOXELS_PER_AXIS`` voxels."""
    for axis, n in enumerate(image.GetSize()):
        if n < MIN_VOXELS_PER_AXIS:
            raise FusionInputError(
                f"{label}: only {n} voxel(s) along axis {axis}; registration needs at least "
                f"{MIN_VOXELS_PER_AXIS} (register single slices as 2D images)")


CT_TISSUE_HU = -500.0
MIN_CT_TISSUE_FRACTION = 0.01
"""A CT with fewer voxels than this fraction above ``CT_TISSUE_HU`` shows only air: nothing to register."""


def check_ct_anatomy(image: sitk.Image, label: str) -> None:
    """FusionInputError when the CT ``image`` (HU) holds almost no anatomy (a field of view of air, such as a
    box above the head): mutual information then fits noise and can move it anywhere."""
    values = sitk.GetArrayViewFromImage(to_scalar(image, label)).reshape(-1)
    sample = values[::max(1, values.size // 1_000_000)]
    fraction = float(np.mean(sample > CT_TISSUE_HU))
    if fraction < MIN_CT_TISSUE_FRACTION:
        raise FusionInputError(f"{label}: only {100 * fraction:.1f} % of the CT is denser than {CT_TISSUE_HU:g} HU; "
                               "its field of view shows air, not anatomy, so there is nothing to register")


def level_spacings(reference: sitk.Image, moving: sitk.Image, levels: int = 3) -> List[float]:
    """Target spacings (mm), coarse to fine: base * 2^(levels-1), ..., base.

    base = max(1 mm, the finest spacing of either input).
    """
    base = max(1.0, min(min(reference.GetSpacing()), min(moving.GetSpacing())))
    return [base * 2.0 ** k for k in range(levels - 1, -1, -1)]


def shrink_factors(image: sitk.Image, target_mm: float) -> List[int]:
    """Per-axis integer factors bringing ``image`` near ``target_mm`` spacing, keeping >= 8 voxels per axis."""
    factors = []
    for spacing, n in zip(image.GetSpacing(), image.GetSize()):
        factor = max(1, int(np.floor(target_mm / spacing + 0.5)))
        factors.append(max(1, min(factor, n // 8)))
    return factors


def _clip_range(modality: str, sample: sitk.Image) -> Tuple[float, float]:
    """Intensity range kept for MI (input units): CT ``CT_WINDOW_HU``, others [background, 99.9th percentile]."""
    low = background_value(sample, modality)
    if modality == "ct":
        return max(low, CT_WINDOW_HU[0]), CT_WINDOW_HU[1]
    values = sitk.GetArrayViewFromImage(sample)
    return low, float(np.percentile(values, UPPER_PERCENTILE))


def build_pyramid(image: sitk.Image, modality: str, spacings: Sequence[float], label: str) -> List[sitk.Image]:
    """Levels of ``image`` at ``spacings`` (coarse to fine), float32: box-averaged, clamped, shifted so
    background is 0, and smoothed except the finest.

    Raises FusionInputError for a constant image, which carries nothing to register, or one with NaN/inf.
    """
    scalar = to_scalar(image, label)
    shrunk = []
    for spacing in spacings:
        factors = shrink_factors(scalar, spacing)
        shrunk.append(sitk.BinShrink(scalar, factors) if max(factors) > 1 else scalar)
    if not np.all(np.isfinite(sitk.GetArrayViewFromImage(shrunk[0]))):
        raise FusionInputError(f"{label}: the image contains NaN or infinite values")
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(shrunk[0])
    low, high = _clip_range(modality, shrunk[0])
    if not stats.GetMaximum() > stats.GetMinimum() or not high > low:
        raise FusionInputError(f"{label}: the image has no contrast to register "
                               f"(values {stats.GetMinimum():g} to {stats.GetMaximum():g})")
    levels = []
    for number, (level, spacing) in enumerate(zip(shrunk, spacings)):
        level = sitk.Clamp(sitk.Cast(level, sitk.sitkFloat32), sitk.sitkFloat32, low, high) - low
        if number < len(spacings) - 1:
            level = sitk.SmoothingRecursiveGaussian(level, COARSE_SMOOTHING * spacing)
        levels.append(level)
    return levels


def centre_of_mass(image: sitk.Image) -> np.ndarray:
    """Physical centre (LPS mm) of the intensity mass of a non-negative image."""
    weights = sitk.GetArrayViewFromImage(image).astype(np.float64)
    total = weights.sum()
    if total <= 0:
        raise FusionInputError("cannot initialise by moments: the image has no foreground")
    index = [float((weights.sum(axis=tuple(a for a in range(weights.ndim) if a != axis))
                    * np.arange(weights.shape[axis])).sum() / total) for axis in range(weights.ndim)]
    return np.array(image.TransformContinuousIndexToPhysicalPoint(index[::-1]))


def rms_radius(mask: sitk.Image, centre: Sequence[float]) -> float:
    """Root-mean-square distance (mm) of the mask's voxels from ``centre`` (LPS mm), at least ``MIN_RADIUS_MM``."""
    keep = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1]
    if len(keep) == 0:
        return MIN_RADIUS_MM
    matrix = np.array(mask.GetDirection()).reshape(mask.GetDimension(), -1) * np.array(mask.GetSpacing())
    points = keep @ matrix.T + np.array(mask.GetOrigin())
    radius = float(np.sqrt(np.mean(np.sum((points - np.asarray(centre)) ** 2, axis=1))))
    return max(radius, MIN_RADIUS_MM)


def foreground_mask(image: sitk.Image) -> sitk.Image:
    """uint8 mask (same grid) of voxels above ``FOREGROUND_FRACTION`` of the 99.5th percentile, dilated by one voxel.

    Meant for the coarsest level (smoothed, small); ITK looks masks up by physical point, so
    one mask serves every level.
    """
    values = sitk.GetArrayViewFromImage(image)
    threshold = FOREGROUND_FRACTION * float(np.percentile(values, 99.5))
    mask = sitk.GetImageFromArray((values > threshold).astype(np.uint8))
    mask.CopyInformation(image)
    return sitk.BinaryDilate(mask, [1] * image.GetDimension())


def scaled_geometry(image: sitk.Image, factor: float) -> sitk.Image:
    """A copy of ``image`` whose physical space is scaled by ``factor`` (spacing and origin multiplied)."""
    scaled = sitk.Image(image)
    scaled.SetSpacing(tuple(s * factor for s in image.GetSpacing()))
    scaled.SetOrigin(tuple(o * factor for o in image.GetOrigin()))
    return scaled


def geometric_centre(image: sitk.Image) -> np.ndarray:
    """Physical position (LPS mm) of the centre of the image's voxel grid."""
    return np.array(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in image.GetSize()]))
