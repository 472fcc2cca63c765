"""The one fusion pipeline the CLI and the Slicer Logic both call.

    SimpleITK images a (CT/PET/SPECT) and b (MRI), LPS physical geometry
      -> a few NaN/Inf voxels become background (with a FusionWarning); mostly NaN/Inf is refused
      -> checks (dimension, pixel type, finite, not constant)
      -> volumes: the other input onto the reference grid: rigid registration ("auto": when grids
         differ, "always", or "never": resampled as the headers place it)
      -> intensity windows (the user's, or each modality's default) -> float32 slices in [0, 1]
      -> FusionNet slice by slice along the chosen plane
      -> fused image on exactly the reference grid (size, spacing, origin, direction); with a colour
         map also the colour PET/SPECT fusion (fusion.colour_volume) on the same grid
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

import numpy as np
import SimpleITK as sitk

from ..choices import registration_mode
from ..errors import FusionInputError
from ..imaging.image_io import nonfinite_as_background, picture_from_image, picture_to_image
from ..imaging.intensity import IntensityWindow, check_finite_and_varied, window_for
from ..imaging.windows import Bounds, chosen_window
from ..memory import available_memory_bytes, fusion_bytes, gigabytes
from ..network.model_files import FusionModel, default_model_path, load_model
from ..pairs import modalities
from ..progress import CancelCheck, ProgressCallback, report
from .orientation import slice_axis, stack_spacing
from .salience import salience_thresholds
from .across_slices import FINISH_CHUNK, reach_in_slices, slice_reaches
from .slices import (MAX_SIDE, MIN_SIDE, default_batch_size, fuse_slices, resolve_device, resolve_precision,
                     worker_count)

ModelLike = Union[FusionModel, str, os.PathLike, None]
REFERENCES = ("auto", "a", "b")


@dataclass
class FusionResult:
    """A fused image and how it was made.

    image: fused image on the reference grid. Volumes: float32 in the reference modality's units
        (its intensity window mapped back). Pictures: 8-bit grey, or RGB for colour PET/SPECT.
    reference: "a" or "b", the input whose grid the result is on.
    transform: maps reference physical points (LPS mm) to the other input's points (the ITK
        resampling convention); None when no registration ran.
    registration_metric: final Mattes MI value of the registration, None when none ran.
    seconds: wall time of each stage.
    windows: the intensity window used for each input, {"a": ..., "b": ...} (volumes).
    alignment: how the other input was put on the reference grid: "registered", "same grid" (no
        registration needed or asked for) or "header geometry" (resampled without registration).
    colour_image: the colour fusion (3-component uint8 RGB, reference grid), None without a colour map.
    colour_map: the colour map's name ("heat", "rainbow") or None.
    outside_other: the share (0..1) of the reference grid's voxels outside the other input's field of view
        (volumes), where the fused volume is the reference input alone: the other input has nothing there.
    """

    image: sitk.Image
    reference: str
    transform: Optional[sitk.Transform] = None
    registration_metric: Optional[float] = None
    seconds: Dict[str, float] = field(default_factory=dict)
    windows: Dict[str, IntensityWindow] = field(default_factory=dict)
    alignment: str = "same grid"
    colour_image: Optional[sitk.Image] = None
    colour_map: Optional[str] = None
    outside_other: float = 0.0


def resolve_model(model: ModelLike, pair: str) -> FusionModel:
    """A FusionModel for ``pair``: the given one, one loaded from a path, or the shipped default."""
    if isinstance(model, FusionModel):
        chosen = model
    else:
        chosen = load_model(model if model is not None else default_model_path(pair))
    if chosen.pair_types and pair not in chosen.pair_types:
        raise FusionInputError(f"{chosen.path or chosen.name}: model was trained for "
                               f"{', '.join(chosen.pair_types)}, not {pair}")
    return chosen


def _check_scalar_volume(image: sitk.Image, name: str) -> None:
    if image.GetDimension() != 3:
        raise FusionInputError(f"{name}: expected a 3D volume, got {image.GetDimension()}D")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise FusionInputError(f"{name}: has {image.GetNumberOfComponentsPerPixel()} components per voxel "
                               "(vector or colour volume); give a scalar volume")


def _padded(side: int, multiple: int) -> int:
    return -(-side // multiple) * multiple


def check_slice_size(reference: sitk.Image, plane: str, name: str) -> None:
    """FusionInputError, before any work, when ``plane`` slices of the reference grid are smaller than
    ``MIN_SIDE`` or larger than ``MAX_SIDE`` pixels on a side (a 1-slice volume cut coronally)."""
    shape = list(reference.GetSize()[::-1])
    shape.pop(slice_axis(reference, plane))
    if min(shape) < MIN_SIDE or max(shape) > MAX_SIDE:
        raise FusionInputError(f"{name}: {plane} slices of this volume would be {shape[0]}x{shape[1]} pixels "
                               f"(size {'x'.join(map(str, reference.GetSize()))}); fusion needs {MIN_SIDE}..{MAX_SIDE} "
                               "on each side, so choose another --axis")


def check_memory(reference: sitk.Image, plane: str, batch_size: Optional[int], model: FusionModel, device: str,
                 precision: str, name: str) -> None:
    """FusionInputError, with the estimate and a batch size that fits, when fusing on ``reference``'s grid
    would need more memory than is free (see :mod:`FusionCINNLib.memory`)."""
    shape = list(reference.GetSize()[::-1])
    slices = shape.pop(slice_axis(reference, plane))
    multiple = model.config.input_size or model.config.multiple
    pixels = _padded(shape[0], multiple) * _padded(shape[1], multiple)
    torch_device = resolve_device(device)
    on_cpu = torch_device.type == "cpu"
    hidden0 = model.config.hidden[0]
    voxels = reference.GetNumberOfPixels()
    batch = batch_size or default_batch_size(*shape, torch_device.type)
    workers = worker_count(torch_device, resolve_precision(precision, torch_device), -(-slices // batch))
    reach = reach_in_slices(slice_reaches(stack_spacing(reference, slice_axis(reference, plane)))) + FINISH_CHUNK

    def held(in_flight: int) -> int:  # slices fused and waiting for those within the pedestal's reach
        return reach + in_flight if model.config.finding_levels else 0

    needed = fusion_bytes(voxels, pixels, batch * workers, hidden0, on_cpu, held(batch * workers))
    free = available_memory_bytes()
    if free is None or needed <= free:
        return
    fits = [n for n in (16, 8, 4, 2, 1)
            if n < batch and fusion_bytes(voxels, pixels, n * workers, hidden0, on_cpu, held(n * workers)) <= free]
    advice = f"use --batch-size {fits[0]} or a smaller volume" if fits else "crop or resample the volume"
    raise FusionInputError(f"{name}: needs about {gigabytes(needed)} of memory, {gigabytes(free)} free; {advice}")


VOXEL_VOLUME_RTOL = 1e-4
"""Voxel volumes within this relative difference are equal for ``choose_reference``: a 1.8 mm DICOM CT and
a NIfTI MRI at 1.7999999523 mm (float32) are the same size, not a finer MRI."""


def choose_reference(image_a: sitk.Image, image_b: sitk.Image, reference: str) -> str:
    """'a' or 'b'. 'auto' picks the finer grid (smaller voxel volume), 'a' on a tie (within ``VOXEL_VOLUME_RTOL``)."""
    if reference not in REFERENCES:
        raise FusionInputError(f"unknown reference {reference!r}; expected one of {REFERENCES}")
    if reference != "auto":
        return reference
    volume_a, volume_b = float(np.prod(image_a.GetSpacing())), float(np.prod(image_b.GetSpacing()))
    return "a" if volume_a <= volume_b * (1.0 + VOXEL_VOLUME_RTOL) else "b"


def fuse_pictures(image_a: sitk.Image, image_b: sitk.Image, pair: str, model: ModelLike = None, *,
                  device: str = "auto", name_a: str = "a", name_b: str = "b") -> FusionResult:
    """Fuse two registered 2D pictures of equal size; colour PET/SPECT is fused through YCbCr."""
    modality_a, modality_b = modalities(pair)
    fusion_model = resolve_model(model, pair)
    pic_a = picture_from_image(nonfinite_as_background(image_a, name_a), name_a, modality_a)
    pic_b = picture_from_image(nonfinite_as_background(image_b, name_b), name_b, modality_b)
    if pic_a.grey.shape != pic_b.grey.shape:
        raise FusionInputError(f"{name_a}, {name_b}: sizes differ ({pic_a.grey.shape[::-1]} vs "
                               f"{pic_b.grey.shape[::-1]}); 2D pairs must be registered and the same size")
    start = time.perf_counter()
    fused = fuse_slices(fusion_model.net, pic_a.grey[None], pic_b.grey[None], device=device)[0]
    chroma = pic_a.chroma if pic_a.is_colour else pic_b.chroma
    out = picture_to_image(fused, chroma)
    out.SetSpacing(image_b.GetSpacing())
    out.SetOrigin(image_b.GetOrigin())
    return FusionResult(out, "b", seconds={"fuse": time.perf_counter() - start})


def _align(fixed: sitk.Image, moving: sitk.Image, mode: str, modalities_: Tuple[str, str], names: Tuple[str, str],
           seconds: Dict[str, float], progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]):
    """(moving on the fixed grid, transform or None, metric or None, alignment, coverage) for registration
    ``mode``; coverage: where moving has data on the fixed grid (geometry.resampling.coverage_on_reference)."""
    from ..geometry.registration import overlap_gap, register_volumes
    from ..geometry.resampling import background_value, coverage_on_reference, grids_match, resample_to_reference

    fixed_mod, moving_mod = modalities_
    same = grids_match(fixed, moving)
    if mode == "never" or (mode == "auto" and same):
        if same:
            return moving, None, None, "same grid", None
        gap = overlap_gap(fixed, moving)
        if gap > 0:
            raise FusionInputError(f"{names[0]}, {names[1]}: the two images do not overlap: their headers place them "
                                   f"{gap:.0f} mm apart; without registration there is nothing to fuse (use --register "
                                   "auto)")
        transform, metric, alignment = None, None, "header geometry"
    else:
        start = time.perf_counter()
        try:
            result = register_volumes(fixed, moving, reference_modality=fixed_mod, moving_modality=moving_mod,
                                      progress=lambda f, m: report(progress, 0.4 * f, m, cancel), cancel=cancel)
        except FusionInputError as err:
            raise FusionInputError(f"{names[0]}, {names[1]}: {err}") from None
        seconds["register"] = time.perf_counter() - start
        transform, metric, alignment = result.transform, result.metric_value, "registered"
    background = background_value(moving, moving_mod)
    start = time.perf_counter()
    coverage = coverage_on_reference(moving, fixed, transform)
    moving = resample_to_reference(moving, fixed, transform, background)
    seconds["resample"] = time.perf_counter() - start
    return moving, transform, metric, alignment, coverage


def fuse_volumes(image_a: sitk.Image, image_b: sitk.Image, pair: str, model: ModelLike = None, *,
                 register: Union[bool, str] = "auto", reference: str = "auto", plane: str = "axial",
                 device: str = "auto", batch_size: Optional[int] = None, precision: str = "auto",
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
                 name_a: str = "a", name_b: str = "b", window_a: Optional[Bounds] = None,
                 window_b: Optional[Bounds] = None, colour: Optional[str] = None) -> FusionResult:
    """Fuse a CT/PET/SPECT volume ``image_a`` with an MRI volume ``image_b`` (SimpleITK, LPS).

    ``register``: one of ``choices.REGISTRATION_CHOICES`` (or True = "auto", False = "never"). ``window_a``,
    ``window_b``: (LO, HI) in that input's units, replacing the modality's default window (the fused
    volume is in the reference's units on its window). ``colour``: a colour map name
    (imaging.colour_maps) for PET/SPECT: the result also holds the colour fusion. Progress:
    registration 0-40 %, fusion 40-100 % (grey 40-70 % and colour 70-100 % with a colour map)."""
    from ..imaging.colour_maps import check_colour_pair
    from .colour_volume import fuse_colour_stacks, rgb_image_on

    mode = registration_mode(register)
    if colour is not None:
        check_colour_pair(pair, colour)
    modality_a, modality_b = modalities(pair)
    chosen = {"a": chosen_window(window_a, modality_a, f"window of {name_a}"),
              "b": chosen_window(window_b, modality_b, f"window of {name_b}")}
    _check_scalar_volume(image_a, name_a)
    _check_scalar_volume(image_b, name_b)
    image_a, image_b = nonfinite_as_background(image_a, name_a), nonfinite_as_background(image_b, name_b)
    fusion_model = resolve_model(model, pair)
    seconds: Dict[str, float] = {}
    side = choose_reference(image_a, image_b, reference)
    other = "b" if side == "a" else "a"
    fixed, moving = (image_a, image_b) if side == "a" else (image_b, image_a)
    fixed_mod, moving_mod = (modality_a, modality_b) if side == "a" else (modality_b, modality_a)
    fixed_name, moving_name = (name_a, name_b) if side == "a" else (name_b, name_a)
    check_slice_size(fixed, plane, fixed_name)
    check_memory(fixed, plane, batch_size, fusion_model, device, precision, f"fusing {name_a} with {name_b}")

    start = time.perf_counter()
    array_fixed = sitk.GetArrayViewFromImage(fixed)
    array_moving_raw = sitk.GetArrayViewFromImage(moving)
    check_finite_and_varied(array_fixed, fixed_name)
    check_finite_and_varied(array_moving_raw, moving_name)
    window_fixed = chosen[side] or window_for(array_fixed, fixed_mod)
    window_moving = chosen[other] or window_for(array_moving_raw, moving_mod)
    seconds["check"] = time.perf_counter() - start

    report(progress, 0.0, "checking geometry", cancel)
    moving, transform, metric, alignment, coverage = _align(fixed, moving, mode, (fixed_mod, moving_mod),
                                                            (name_a, name_b), seconds, progress, cancel)

    start = time.perf_counter()
    axis = slice_axis(fixed, plane)
    norm_fixed = np.moveaxis(window_fixed.normalise(sitk.GetArrayViewFromImage(fixed)), axis, 0)
    norm_moving = np.moveaxis(window_moving.normalise(sitk.GetArrayViewFromImage(moving)), axis, 0)
    stack_a, stack_b = (norm_fixed, norm_moving) if side == "a" else (norm_moving, norm_fixed)
    del moving  # the resampled volume (float32, as large as the reference) is not needed once normalised
    seconds["normalise"] = time.perf_counter() - start

    grey_share = 0.6 if colour is None else 0.3
    window_a = window_fixed if side == "a" else window_moving
    salience = salience_thresholds(window_a)
    # beyond the other input's field of view, in the stacks' order (inverted in place: one mask, not two)
    outside = None if coverage is None else np.moveaxis(np.logical_not(coverage, out=coverage), axis, 0)
    reached = None if outside is None else np.flatnonzero(~outside.all(axis=(1, 2)))  # no copy of a strided view
    options = dict(device=device, batch_size=batch_size, precision=precision, salience=salience, only=reached,
                   spacing=stack_spacing(fixed, axis), cancel=cancel)
    start = time.perf_counter()
    fused = fuse_slices(fusion_model.net, stack_a, stack_b, out=None if colour else norm_fixed,  # colour reads it again
                        progress=lambda f, m: report(progress, 0.4 + grey_share * f, m, cancel), **options)
    if outside is not None:  # the other input has nothing there: the reference alone, normalised again from its input
        reference_stack = np.moveaxis(sitk.GetArrayViewFromImage(fixed), axis, 0)
        for k in np.flatnonzero(outside.any(axis=(1, 2))):
            fused[k][outside[k]] = window_fixed.normalise(reference_stack[k][outside[k]])
    seconds["fuse"] = time.perf_counter() - start
    colour_image = None
    if colour is not None:
        start = time.perf_counter()
        rgb = fuse_colour_stacks(fusion_model.net, stack_a, stack_b, colour, outside=outside, reference=side,
                                 progress=lambda f, m: report(progress, 0.7 + 0.3 * f, f"colour: {m}", cancel),
                                 **options)
        colour_image = rgb_image_on(fixed, np.moveaxis(rgb, 0, axis))
        del rgb
        seconds["colour"] = time.perf_counter() - start
    outside_share = 0.0 if outside is None else float(np.count_nonzero(outside)) / outside.size
    del norm_fixed, norm_moving, stack_a, stack_b, coverage, outside  # fewer volumes at the peak

    out = sitk.GetImageFromArray(window_fixed.denormalise(np.moveaxis(fused, 0, axis), in_place=True))
    out.CopyInformation(fixed)
    del fused
    windows = {side: window_fixed, other: window_moving}
    return FusionResult(out, side, transform, metric, seconds, windows, alignment, colour_image, colour,
                        outside_share)


def fuse_images(image_a: sitk.Image, image_b: sitk.Image, pair: str, model: ModelLike = None,
                **options: object) -> FusionResult:
    """Fuse two SimpleITK images: 2D pictures with :func:`fuse_pictures`, volumes with :func:`fuse_volumes`."""
    name_a, name_b = options.get("name_a", "a"), options.get("name_b", "b")
    dims = (image_a.GetDimension(), image_b.GetDimension())
    for dim, name in zip(dims, (name_a, name_b)):
        if dim not in (2, 3):
            raise FusionInputError(f"{name}: {dim}D image (a time series?); give a 2D picture or a 3D volume")
    if dims == (2, 2):
        return fuse_pictures(image_a, image_b, pair, model, device=str(options.get("device", "auto")),
                             name_a=str(name_a), name_b=str(name_b))
    if dims[0] != dims[1]:
        raise FusionInputError(f"{name_a}, {name_b}: cannot fuse a {dims[0]}D image with a {dims[1]}D image")
    return fuse_volumes(image_a, image_b, pair, model, **options)
