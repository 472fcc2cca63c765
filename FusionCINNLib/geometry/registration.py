"""Rigid (optionally affine) registration of a moving image to a reference with SimpleITK.

Method:
- The image with the smaller voxels is the metric's fixed image (its grid carries the sample
  points); when that is the moving image, the result is inverted at the end, so either side
  may be the reference with the same accuracy.
- A three-level pyramid (``pyramid.py``): 4x, 2x and 1x the base spacing (1 mm, or the
  inputs' finest spacing if coarser), box-averaged, the two coarse levels Gaussian-smoothed.
- Intensities: CT clamped to [-1000, 2000] HU, MRI/PET/SPECT to their 99.9th percentile; RGB
  becomes luminance; any scalar pixel type is cast to float32.
- Mattes mutual information on a fixed random set of sample points per level (seeded, so
  results are reproducible) drawn inside the fixed image's anatomy (a foreground mask),
  histogram bins adapted to the sample count, linear interpolation.
- Regular step gradient descent in a *unit frame*: physical space divided by the anatomy's
  RMS radius, where one unit of any parameter (angle in radians, matrix entry, translation)
  moves the anatomy by about one unit, so the optimizer needs no parameter scales and its
  step is a physical shift. A level ends when the step is tiny, the metric stops improving
  over a window of iterations, or its iteration budget is spent.
- Initialisation: grid centres ("geometry"), intensity centres of mass ("moments") or the
  physical coordinates as they are ("identity"). An optional affine stage refines the rigid
  result on the two finest levels.
SimpleITK runs its filters and metric on its own threads (the global default: all cores).

The returned transform maps *reference* physical points (LPS mm) to *moving* points: the ITK
resampling convention, so ``resample_to_reference(moving, reference, result.transform)``
puts the moving image on the reference grid. 2D images are registered with 2D transforms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError, FusionRuntimeError
from ..progress import CancelCheck, ProgressCallback, report
from .pyramid import (build_pyramid, centre_of_mass, check_extent, foreground_mask, geometric_centre,
                      level_spacings, rms_radius, scaled_geometry)
from .resampling import background_value, check_image, check_modality, resample_to_reference
from .transforms import as_affine, invert_linear, rescale_linear

INITIALISATIONS = ("geometry", "moments", "identity")

HISTOGRAM_BINS = 32
MIN_BINS = 12
SAMPLES_PER_BIN = 16
"""Histogram bins per level: sqrt(samples / SAMPLES_PER_BIN), within [MIN_BINS, HISTOGRAM_BINS]."""
SAMPLES_PER_LEVEL = (10_000, 20_000, 80_000)
"""Metric sample points per level, coarse to fine (all voxels when a level has fewer)."""

MAX_ITERATIONS = (60, 60, 100)
"""Iteration limit per level, coarse to fine."""
FIRST_STEP = (1.0, 0.5, 0.5)
"""First optimizer step per level, coarse to fine, in units of the level's spacing."""
CONVERGENCE_WINDOW = 10
CONVERGENCE_TOLERANCE = 2e-4
"""A level stops when its best metric improved less than this (relative) over the last window."""
MIN_STEP_FRACTION = 1e-3
"""A level also stops when the optimizer's step falls below this fraction of its first step."""
SAMPLING_SEED = 20240613
"""Fixed seed of the metric's sample positions: the same inputs always give the same transform."""


@dataclass
class RegistrationResult:
    """Outcome of ``register_volumes``.

    ``transform`` maps reference physical points (LPS mm) to moving physical points (ITK
    resampling convention): Euler3DTransform/Euler2DTransform when rigid, AffineTransform when
    affine. ``metric_value`` is the final Mattes MI value (negative; lower is better),
    ``iterations`` the optimizer iterations over all levels and stages, ``seconds`` wall time.
    """

    transform: sitk.Transform
    metric_value: float
    iterations: int
    seconds: float


class _Monitor:
    """Iteration callback state: progress, cancellation, convergence, and errors raised inside callbacks.

    A level also stops when its best metric value improved by less than ``CONVERGENCE_TOLERANCE``
    (relative) over the last ``CONVERGENCE_WINDOW`` iterations: the regular-step optimizer can
    otherwise crawl along a flat valley for its whole iteration budget.
    """

    def __init__(self, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck], stages: int):
        self.progress = progress
        self.cancel = cancel
        self.stages = stages
        self.stage = 0
        self.iterations = 0
        self.error: Optional[BaseException] = None

    def callback(self, method: sitk.ImageRegistrationMethod, label: str, limit: int) -> Callable[[], None]:
        """The iteration command for ``method`` (one level, at most ``limit`` iterations)."""
        history: List[float] = []

        def on_iteration() -> None:
            self.iterations += 1
            if self.error is not None:
                method.StopRegistration()
                return
            history.append(method.GetMetricValue())
            if len(history) > CONVERGENCE_WINDOW:
                before = min(history[:-CONVERGENCE_WINDOW])
                if min(history[-CONVERGENCE_WINDOW:]) > before - CONVERGENCE_TOLERANCE * abs(before):
                    method.StopRegistration()
            fraction = (self.stage + min(method.GetOptimizerIteration() / limit, 1.0)) / self.stages
            try:
                report(self.progress, fraction, f"{label}: MI {method.GetMetricValue():.4f}", self.cancel)
            except BaseException as err:  # re-raised after Execute; SimpleITK cannot carry it
                self.error = err
                method.StopRegistration()
        return on_iteration


def _voxel_volume(image: sitk.Image) -> float:
    """Volume (mm^3, or mm^2 in 2D) of one voxel."""
    return float(np.prod(image.GetSpacing()))


def _initial_transform(fixed: List[sitk.Image], moving: List[sitk.Image], fixed_image: sitk.Image,
                       moving_image: sitk.Image, initialisation: str) -> sitk.Transform:
    """A rigid transform (Euler, rotation about the fixed image's centre) that pre-aligns the images."""
    dimension = fixed_image.GetDimension()
    transform = sitk.Euler3DTransform() if dimension == 3 else sitk.Euler2DTransform()
    if initialisation == "moments":
        centre = centre_of_mass(fixed[0])
        shift = centre_of_mass(moving[0]) - centre
    else:
        centre = geometric_centre(fixed_image)
        shift = geometric_centre(moving_image) - centre if initialisation == "geometry" else np.zeros(dimension)
    transform.SetCenter(tuple(float(v) for v in centre))
    transform.SetTranslation(tuple(float(v) for v in shift))
    return transform


def _run_level(fixed: sitk.Image, moving: sitk.Image, mask: sitk.Image, transform: sitk.Transform,
               level: int, step: float, monitor: _Monitor, label: str) -> float:
    """Optimise ``transform`` in place on one pyramid level; return the final metric value.

    Images and transform are in the unit frame (see ``register_volumes``), where every parameter
    (angle, matrix entry, translation) moves the anatomy by about one unit per unit, so the
    optimizer needs no scales; ``step`` is its first step, in those units. About
    ``SAMPLES_PER_LEVEL[level]`` sample points are drawn inside ``mask`` (the fixed image's anatomy).
    """
    method = sitk.ImageRegistrationMethod()
    inside = fixed.GetNumberOfPixels() * float(np.mean(sitk.GetArrayViewFromImage(mask)))
    samples = int(min(SAMPLES_PER_LEVEL[level], inside))
    bins = int(np.clip(np.sqrt(samples / SAMPLES_PER_BIN), MIN_BINS, HISTOGRAM_BINS))
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricFixedMask(mask)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(min(1.0, samples / inside), SAMPLING_SEED)
    method.MetricUseFixedImageGradientFilterOff()
    method.MetricUseMovingImageGradientFilterOff()
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=step, minStep=step * MIN_STEP_FRACTION, numberOfIterations=MAX_ITERATIONS[level],
        relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScales([1.0] * transform.GetNumberOfParameters())
    method.SetInitialTransform(transform, inPlace=True)
    method.AddCommand(sitk.sitkIterationEvent, monitor.callback(method, label, MAX_ITERATIONS[level]))
    try:
        method.Execute(fixed, moving)
    except RuntimeError as err:
        if monitor.error is not None:
            raise monitor.error from None
        detail = str(err).strip().splitlines()[-1]
        raise FusionRuntimeError(f"registration failed at {label}: {detail}") from None
    if monitor.error is not None:
        raise monitor.error
    monitor.stage += 1
    return float(method.GetMetricValue())


def _optimise(fixed: List[sitk.Image], moving: List[sitk.Image], mask: sitk.Image, spacings: List[float],
              transform: sitk.Transform, affine: bool, monitor: _Monitor) -> Tuple[sitk.Transform, float]:
    """Run the rigid (and affine) levels in the unit frame; return the transform in mm and the last metric value.

    The unit frame is physical space divided by the RMS radius of the fixed image's anatomy (``mask``)
    around the rotation centre.
    """
    radius = rms_radius(mask, transform.GetCenter())
    fixed_levels = [scaled_geometry(level, 1.0 / radius) for level in fixed]
    moving_levels = [scaled_geometry(level, 1.0 / radius) for level in moving]
    mask = scaled_geometry(mask, 1.0 / radius)
    transform = rescale_linear(transform, 1.0 / radius)
    levels = len(spacings)
    stages = [("rigid", level) for level in range(levels)]
    if affine:
        stages += [("affine", level) for level in range(levels - 2, levels)]
    metric = 0.0
    for kind, level in stages:
        if kind == "affine" and transform.GetName() != "AffineTransform":
            transform = as_affine(transform, transform.GetCenter())
        metric = _run_level(fixed_levels[level], moving_levels[level], mask, transform, level,
                            FIRST_STEP[level] * spacings[level] / radius, monitor,
                            f"{kind} level {level + 1}/{levels} ({spacings[level]:g} mm)")
    return rescale_linear(transform, radius), metric


def register_volumes(reference: sitk.Image, moving: sitk.Image, *, reference_modality: str,
                     moving_modality: str, affine: bool = False, initialisation: str = "geometry",
                     progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelCheck] = None) -> RegistrationResult:
    """Register ``moving`` to ``reference`` (2D or 3D, any scalar or RGB pixel type) and return the transform.

    Modalities are "ct" (HU, clamped to [-1000, 2000] for the metric), "mri", "pet" or "spect".
    ``initialisation`` is "geometry" (grid centres), "moments" (intensity centres of mass) or
    "identity" (trust the physical coordinates). ``progress(fraction, message)`` is called each
    iteration; ``cancel()`` returning True raises FusionCancelled. Bad inputs raise
    FusionInputError; an optimisation that cannot run raises FusionRuntimeError.
    """
    start = time.perf_counter()
    check_image(reference, "reference image")
    check_image(moving, "moving image")
    reference_modality = check_modality(reference_modality)
    moving_modality = check_modality(moving_modality)
    if reference.GetDimension() != moving.GetDimension():
        raise FusionInputError(f"cannot register a {moving.GetDimension()}D image to a "
                               f"{reference.GetDimension()}D reference")
    if initialisation not in INITIALISATIONS:
        raise FusionInputError(f"unknown initialisation {initialisation!r}; expected one of "
                               f"{', '.join(INITIALISATIONS)}")
    check_extent(reference, "reference image")
    check_extent(moving, "moving image")
    report(progress, 0.0, "registration: preparing images", cancel)

    inputs = [(reference, reference_modality, "reference image"), (moving, moving_modality, "moving image")]
    swap = _voxel_volume(moving) < _voxel_volume(reference)
    if swap:
        inputs.reverse()
    (fixed_image, fixed_modality, fixed_label), (moving_image, moving_modality_, moving_label) = inputs
    spacings = level_spacings(fixed_image, moving_image)
    fixed = build_pyramid(fixed_image, fixed_modality, spacings, fixed_label)
    mov = build_pyramid(moving_image, moving_modality_, spacings, moving_label)
    transform = _initial_transform(fixed, mov, fixed_image, moving_image, initialisation)
    monitor = _Monitor(progress, cancel, len(spacings) + (2 if affine else 0))
    transform, metric = _optimise(fixed, mov, foreground_mask(fixed[0]), spacings, transform, affine, monitor)
    if swap:
        transform = invert_linear(transform)
    report(progress, 1.0, "registration: done", cancel)
    return RegistrationResult(transform=transform, metric_value=metric, iterations=monitor.iterations,
                              seconds=time.perf_counter() - start)


def align_to_reference(reference: sitk.Image, moving: sitk.Image, *, reference_modality: str,
                       moving_modality: str, **options: Any) -> Tuple[sitk.Image, RegistrationResult]:
    """Register, then resample ``moving`` onto the reference grid (linear; outside = its background value).

    Returns (float32 image on the reference grid, RegistrationResult). ``options`` go to
    ``register_volumes``.
    """
    result = register_volumes(reference, moving, reference_modality=reference_modality,
                              moving_modality=moving_modality, **options)
    aligned = resample_to_reference(moving, reference, result.transform,
                                    default_value=background_value(moving, moving_modality))
    return aligned, result
