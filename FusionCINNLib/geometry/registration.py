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
- Initialisation ("auto", the default): the physical coordinates as the headers give them
  ("identity"), the grid centres matched ("geometry") and the intensity centres of mass matched
  ("moments") are each optimised on the coarsest level, and the finer levels continue from the
  header's result unless another's metric is clearly (``CLEARLY_BETTER``) lower. A clinical CT often
  covers part of the head (a temporal-bone or sinus field of view), where only the header coordinates
  are right. Images whose fields of view
  do not overlap at all in physical space are refused: their headers cannot both be right, and a
  guess could land anywhere; so is a CT whose field of view is almost all air (nothing to register,
  mutual information then fits noise). Each initialisation can also be asked for alone. An optional affine
  stage refines the rigid result on the two finest levels.
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
from .pyramid import (build_pyramid, centre_of_mass, check_ct_anatomy, check_extent, foreground_mask,
                      geometric_centre, level_spacings, rms_radius, scaled_geometry)
from .resampling import background_value, check_image, check_modality, resample_to_reference
from .transforms import as_affine, invert_linear, rescale_linear

INITIALISATIONS = ("auto", "identity", "geometry", "moments")
AUTO_CANDIDATES = ("identity", "geometry", "moments")
"""Initialisations tried by "auto", in order of trust: the headers' coordinates first."""
CLEARLY_BETTER = 0.05
"""A later "auto" candidate replaces an earlier one only when its coarse metric is lower by more than this
fraction: on a near tie (a flat metric, little anatomy in the field of view) the header's coordinates win."""

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


def physical_bounds(image: sitk.Image) -> Tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) corner (LPS mm, D values each) of the box holding the image's voxels, edges included."""
    size = image.GetSize()
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in size], indexing="ij")).reshape(len(size), -1).T
    points = np.array([image.TransformContinuousIndexToPhysicalPoint(tuple(map(float, c))) for c in corners])
    return points.min(axis=0), points.max(axis=0)


def overlap_gap(one: sitk.Image, other: sitk.Image) -> float:
    """Distance (mm) between the physical boxes of two images as their headers place them; 0 when they overlap."""
    low_one, high_one = physical_bounds(one)
    low_other, high_other = physical_bounds(other)
    gaps = np.maximum(0.0, np.maximum(low_other - high_one, low_one - high_other))
    return float(np.linalg.norm(gaps))


def _candidates(fixed: List[sitk.Image], moving: List[sitk.Image], fixed_image: sitk.Image,
                moving_image: sitk.Image, initialisation: str) -> List[Tuple[str, sitk.Transform]]:
    """(name, initial transform) pairs to try: one for a named initialisation, up to three for "auto".

    "auto" drops a candidate that maps the fixed image's centre within a voxel of an earlier one's,
    and "moments" when an image has no foreground."""
    if initialisation != "auto":
        return [(initialisation, _initial_transform(fixed, moving, fixed_image, moving_image, initialisation))]
    centre = tuple(float(v) for v in geometric_centre(fixed_image))
    tolerance = max(fixed[0].GetSpacing())
    chosen: List[Tuple[str, sitk.Transform]] = []
    for name in AUTO_CANDIDATES:
        try:
            transform = _initial_transform(fixed, moving, fixed_image, moving_image, name)
        except FusionInputError:
            continue
        target = np.array(transform.TransformPoint(centre))
        if all(np.linalg.norm(target - np.array(t.TransformPoint(centre))) > tolerance for _, t in chosen):
            chosen.append((name, transform))
    return chosen


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


Stage = Tuple[str, int]
"""("rigid" or "affine", pyramid level)."""


def _optimise(fixed: List[sitk.Image], moving: List[sitk.Image], mask: sitk.Image, spacings: List[float],
              transform: sitk.Transform, stages: List[Stage], monitor: _Monitor) -> Tuple[sitk.Transform, float]:
    """Run ``stages`` in the unit frame from ``transform``; return the transform in mm and the last metric value.

    The unit frame is physical space divided by the RMS radius of the fixed image's anatomy (``mask``)
    around the rotation centre.
    """
    radius = rms_radius(mask, transform.GetCenter())
    used = {level for _, level in stages}  # scaling copies an image: a candidate's start needs the coarsest only
    fixed_levels = {level: scaled_geometry(fixed[level], 1.0 / radius) for level in used}
    moving_levels = {level: scaled_geometry(moving[level], 1.0 / radius) for level in used}
    mask = scaled_geometry(mask, 1.0 / radius)
    transform = rescale_linear(transform, 1.0 / radius)
    levels = len(spacings)
    metric = 0.0
    for kind, level in stages:
        if kind == "affine" and transform.GetName() != "AffineTransform":
            transform = as_affine(transform, transform.GetCenter())
        metric = _run_level(fixed_levels[level], moving_levels[level], mask, transform, level,
                            FIRST_STEP[level] * spacings[level] / radius, monitor,
                            f"{kind} level {level + 1}/{levels} ({spacings[level]:g} mm)")
    return rescale_linear(transform, radius), metric


def _best_start(fixed: List[sitk.Image], moving: List[sitk.Image], mask: sitk.Image, spacings: List[float],
                candidates: List[Tuple[str, sitk.Transform]], monitor: _Monitor) -> sitk.Transform:
    """The candidate, optimised on the coarsest level, with the best (lowest) metric value; an earlier one
    (more trusted) is kept unless a later one is ``CLEARLY_BETTER``.

    The metric's sample points are the same for every candidate, so the values compare. A candidate
    whose optimisation fails (too few samples inside the moving image) is dropped unless it is the only one."""
    best: Optional[Tuple[float, sitk.Transform]] = None
    for _, start in candidates:
        try:
            transform, metric = _optimise(fixed, moving, mask, spacings, start, [("rigid", 0)], monitor)
        except FusionRuntimeError:
            if len(candidates) == 1:
                raise
            monitor.stage += 1
            continue
        if best is None or metric < best[0] - CLEARLY_BETTER * abs(best[0]):
            best = (metric, transform)
    if best is None:
        names = ", ".join(name for name, _ in candidates)
        raise FusionRuntimeError(f"registration failed from every initialisation ({names})")
    return best[1]


def register_volumes(reference: sitk.Image, moving: sitk.Image, *, reference_modality: str,
                     moving_modality: str, affine: bool = False, initialisation: str = "auto",
                     progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelCheck] = None) -> RegistrationResult:
    """Register ``moving`` to ``reference`` (2D or 3D, any scalar or RGB pixel type) and return the transform.

    Modalities are "ct" (HU, clamped to [-1000, 2000] for the metric), "mri", "pet" or "spect".
    ``initialisation`` is "auto" (the best of the three below, see the module notes; refuses images
    that do not overlap in physical space), "identity" (trust the physical coordinates), "geometry"
    (grid centres) or "moments" (intensity centres of mass). ``progress(fraction, message)`` is called each
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
    for image, modality, label in ((reference, reference_modality, "reference image"),
                                   (moving, moving_modality, "moving image")):
        if modality == "ct":
            check_ct_anatomy(image, f"{label} (CT)")
    gap = overlap_gap(reference, moving)
    if initialisation == "auto" and gap > 0:
        raise FusionInputError(f"the two images do not overlap: their headers place them {gap:.0f} mm apart, so "
                               "their coordinates cannot both be right; put them in one frame of reference first")
    report(progress, 0.0, "registration: preparing images", cancel)

    inputs = [(reference, reference_modality, "reference image"), (moving, moving_modality, "moving image")]
    swap = _voxel_volume(moving) < _voxel_volume(reference)
    if swap:
        inputs.reverse()
    (fixed_image, fixed_modality, fixed_label), (moving_image, moving_modality_, moving_label) = inputs
    spacings = level_spacings(fixed_image, moving_image)
    fixed = build_pyramid(fixed_image, fixed_modality, spacings, fixed_label)
    mov = build_pyramid(moving_image, moving_modality_, spacings, moving_label)
    candidates = _candidates(fixed, mov, fixed_image, moving_image, initialisation)
    stages: List[Stage] = [("rigid", level) for level in range(1, len(spacings))]
    if affine:
        stages += [("affine", level) for level in range(len(spacings) - 2, len(spacings))]
    monitor = _Monitor(progress, cancel, len(candidates) + len(stages))
    mask = foreground_mask(fixed[0])
    start_transform = _best_start(fixed, mov, mask, spacings, candidates, monitor)
    transform, metric = _optimise(fixed, mov, mask, spacings, start_transform, stages, monitor)
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
