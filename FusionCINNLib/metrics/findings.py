"""Findings fidelity: how much of a known focal finding a fused image keeps.

A finding is a ball (radius R, a 1-pixel soft edge) added to one source, in that source's units:
``scaled`` multiplies the values inside it (a hot PET focus x2, a cold region x0.5, an MRI lesion),
``added`` adds a constant (a CT calcification +400 HU). It works on 2D slices (pixels) and 3D
volumes (mm, with the voxel spacing).

Measures, on the 0..1 scale, of the source S and the fused image F, each with (') and without the
finding:

    contrast(x) = mean(x, core: r <= R/2) - mean(x, shell: R + max(R/2, 1.5) <= r <= that + max(R, 2))
    kept    = contrast(F') / contrast(S')                     what a reader sees: 1 = all, < 0 = wrong sign
    imprint = contrast(F' - F) / contrast(S' - S)             the anatomy around the finding cancels:
                                                              1 = the whole finding passes, 0 = hidden
    fill    = [mean(F', core) / mean(F', ring 0.7R..R)] / [the same of S']   1 = filled as in S, < 1 = a ring

Radii and shells are in pixels for 2D slices and in mm for volumes (``spacing``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple, TypeVar

import numpy as np

ArrayLike = TypeVar("ArrayLike")
"""A numpy array or a torch tensor: :func:`finding_regions` uses only comparisons and ``&``."""

OPERATIONS = ("scaled", "added")


@dataclass(frozen=True)
class Finding:
    """A ball-shaped finding: centre (index per axis, (row, col) or (slice, row, col)), radius (px or
    mm), ``operation`` "scaled" (values x amount inside) or "added" (values + amount inside)."""

    centre: Tuple[int, ...]
    radius: float
    operation: str
    amount: float

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, got {self.operation!r}")
        if self.radius <= 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")


def distance_map(shape: Sequence[int], centre: Sequence[int], spacing: Sequence[float] = ()) -> np.ndarray:
    """Distance of every index of ``shape`` from ``centre`` (px, or mm with ``spacing`` per axis)."""
    spacing = tuple(spacing) or (1.0,) * len(shape)
    grids = np.meshgrid(*[(np.arange(n) - c) * s for n, c, s in zip(shape, centre, spacing)],
                        indexing="ij", sparse=True)
    return np.sqrt(sum(g.astype(np.float64) ** 2 for g in grids))


def ball_weight(distance: np.ndarray, radius: float) -> np.ndarray:
    """1 inside the ball, 0 outside, a linear edge one unit (px or mm) wide centred on ``radius``."""
    return np.clip(radius + 0.5 - distance, 0.0, 1.0)


def insert_finding(values: np.ndarray, finding: Finding, spacing: Sequence[float] = ()) -> np.ndarray:
    """A float32 copy of ``values`` (any units, 2D or 3D) with ``finding`` painted in; not clipped."""
    weight = ball_weight(distance_map(values.shape, finding.centre, spacing), finding.radius)
    out = values.astype(np.float32, copy=True)
    if finding.operation == "scaled":
        out *= (1.0 + (finding.amount - 1.0) * weight).astype(np.float32)
    else:
        out += (finding.amount * weight).astype(np.float32)
    return out


@dataclass(frozen=True)
class FindingScore:
    """How one finding shows in the fused image (see the module doc).

    kept: the fused image's contrast (core against shell) over the source's, both with the finding
        (1 = all of it, < 0 = the wrong sign); what a reader sees at that spot.
    imprint: the same for the differences with minus without the finding, so the anatomy around it
        cancels (1 = the whole finding passes into the fused image, 0 = hidden).
    fill: the fused finding's core/ring ratio over the source's, on the images with the finding
        (1 = as filled as in the source, < 1 = a ring).
    source_contrast: the source's contrast with the finding (0..1 units).
    fused_core: the fused image's core mean with the finding (0..1; near 1 = at the top of the range,
        where a bright finding cannot gain more contrast)."""

    kept: float
    imprint: float
    fill: float
    source_contrast: float
    fused_core: float

    @property
    def right_sign(self) -> bool:
        return self.kept > 0


def finding_regions(distance: ArrayLike, radius: float) -> Tuple[ArrayLike, ArrayLike, ArrayLike]:
    """Boolean core (within R/2), ring (0.7 R to R) and shell (module docstring) of a finding of ``radius``,
    from each pixel's ``distance`` to its centre (same units); numpy arrays or torch tensors alike."""
    shell_inner = radius + max(radius / 2.0, 1.5)
    shell_outer = shell_inner + max(radius, 2.0)
    core = distance <= radius / 2.0
    ring = (distance >= 0.7 * radius) & (distance <= radius)
    shell = (distance >= shell_inner) & (distance <= shell_outer)
    return core, ring, shell


def shell_radius(radius: float) -> float:
    """Outer radius of the shell the contrast is measured against (px or mm)."""
    return radius + max(radius / 2.0, 1.5) + max(radius, 2.0)


def finding_box(finding: Finding, shape: Sequence[int], spacing: Sequence[float] = ()
                ) -> Tuple[Tuple[slice, ...], Finding]:
    """(the part of an array of ``shape`` that holds ``finding`` out to its shell and one voxel more, the
    finding in that part's indices); radius and spacing in mm (or px without ``spacing``)."""
    spacing = tuple(spacing) or (1.0,) * len(shape)
    reach = shell_radius(finding.radius) + 1.0
    box = tuple(slice(max(0, c - math.ceil(reach / s)), min(n, c + math.ceil(reach / s) + 1))
                for c, s, n in zip(finding.centre, spacing, shape))
    local = Finding(tuple(c - part.start for c, part in zip(finding.centre, box)), finding.radius,
                    finding.operation, finding.amount)
    return box, local


def _checked_regions(shape: Sequence[int], finding: Finding, spacing: Sequence[float]
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    core, ring, shell = finding_regions(distance_map(shape, finding.centre, spacing), finding.radius)
    if not core.any() or not ring.any() or not shell.any():
        raise ValueError(f"finding at {finding.centre} (radius {finding.radius}) has an empty core, ring or shell")
    return core, ring, shell


def finding_contrast(values: np.ndarray, finding: Finding, spacing: Sequence[float] = ()) -> float:
    """mean(values, core) - mean(values, shell) (0..1 units) of an image or an image difference."""
    core, _, shell = _checked_regions(values.shape, finding, spacing)
    return float(values[core].mean() - values[shell].mean())


def score_finding(source: Tuple[np.ndarray, np.ndarray], fused: Tuple[np.ndarray, np.ndarray], finding: Finding,
                  spacing: Sequence[float] = ()) -> FindingScore:
    """Score one finding from (with, without) pairs of the source and of the fused image (0..1, one
    shape). ValueError when the finding does not change the source or the source has no contrast."""
    core, ring, shell = _checked_regions(source[0].shape, finding, spacing)

    def contrast(d: np.ndarray) -> float:
        return float(d[core].mean() - d[shell].mean())

    def fill(image: np.ndarray) -> float:
        ring_mean = float(image[ring].mean())
        return float(image[core].mean()) / ring_mean if ring_mean > 0.0 else 0.0

    source_delta, fused_delta = source[0] - source[1], fused[0] - fused[1]
    source_contrast, source_imprint, source_fill = contrast(source[0]), contrast(source_delta), fill(source[0])
    if source_contrast == 0.0 or source_imprint == 0.0 or source_fill == 0.0:
        raise ValueError(f"finding at {finding.centre} has no contrast in the source (clipped?)")
    return FindingScore(contrast(fused[0]) / source_contrast, contrast(fused_delta) / source_imprint,
                        fill(fused[0]) / source_fill, source_contrast, float(fused[0][core].mean()))


def ring_profile(values: np.ndarray, distance: np.ndarray, rings: dict) -> dict:
    """Mean of ``values`` in each named ring ``{name: (lo, hi)}`` of ``distance`` (hi excluded), plus
    "core/rim" and "core/shell" when those rings are named (a focus's fill and contrast in the image)."""
    means = {name: float(values[(distance >= lo) & (distance < hi)].mean()) for name, (lo, hi) in rings.items()}
    if {"core", "rim"} <= set(means):
        means["core/rim"] = means["core"] / means["rim"]
    if {"core", "shell"} <= set(means):
        means["core/shell"] = means["core"] / means["shell"]
    return means
