"""The headroom pedestal of a volume: gates and plateaus across its slices.

The network fuses a volume slice by slice, and the headroom pedestal (network.headroom) is made in each slice
from that slice alone. A finding is a ball: in the slices a little above and below its centre it is smaller
or gone, and those slices, part of its surroundings, get less pedestal or none. Here the reaches 1, 2 and 4
(``VOLUME_REACHES``) are also measured in the volume, with the distance across slices in the same mm as
within one (rho CELL px times the in-plane spacing, round(that / slice spacing) slices, rz):

    n, k, b, x    the excess's cells, its amount, the body's cells, summed over boxes of rz and 2 rz slices
                  around a cell (beyond the volume counts as outside the body), so a focus is compact when it
                  is compact in the volume, not only in its slice
    s_rho         the slice's gate (headroom.reach_gate) from those sums; its size term stays the slice's
    plateau       the window maximum of the excess and of s_rho within the slice over ``VOLUME_PLATEAU`` rho
                  cells (twice a slice's own), then over the rz slices either side, then a Gaussian across
                  slices of the in-plane blur's width (0.35 rho cells in the same units; none under half a slice)

and each slice is finished with the volume's plateaus of these reaches instead of its own (``finishing_plateaus``;
its own for the reaches not measured in the volume). In the volume compactness reads from ``VOLUME_COMPACT`` (0.5),
not a slice's 0.7: the wider box of a reach holds 8 times the near box's volume in 3D, 4 times its area in a slice,
so a plate through the box (the skull) reads 1/4 and the skull or other bone beside a calcification costs it more of
its ratio than in a slice. What is compact in a slice but not in the volume gets little: the skull's wall cut across
at a head's end, a rod through the slices, a noisy PET's blobs amid others in the slices around. On the phantom this
lowers none of its CT-MRI head's end slices (13.5 % of the worst one's head by over 0.05 when each slice's own
plateaus counted too; 28.0 % with the CT model's four transfer levels), 4.6 % of its noisy PET's brain by over 0.02
(6.3 %), and the findings benchmark keeps as many findings or more (docs/findings.md, thirtieth round). The reach 8
is not measured in the volume: on the phantom it passed no further finding, and it would hold twice as many slices.
Where the slices are so thick that rz is 0 for every reach, the volume's pedestal is the slices' own. The plateau is
wider than a slice's own because these gates pass only what is compact in the volume: a slice's plateau one cell
wider lowered a sixth of the noisy PET's brain around its small excess blobs (twelfth round); the volume's does not,
and it keeps the pedestal level further over a focus's shell (sixteenth round).

Slices are finished (network.fusion_net.finish) ``FINISH_CHUNK`` at a time once every slice to fuse within reach
is fused, by the worker that fused the last of them (fusion.slices), so only those slices' parts are held (over
three times a slice's memory each, and each slice's window sums, made once when it is fused). The sums and the
blur across slices are products with band matrices, made for the rows a chunk needs. Finishing costs about 15-20
ms a 512x512 slice on a 2-core CPU (docs/speed.md, issue 19's seventh round).
A stack of unrelated pictures is not a volume: it is fused slice by slice (fuse_slices without ``spacing``).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..network.fusion_net import TransferParts, finish
from ..network.cell_grid import gaussian, max_along, ramp, window_max, window_sums
from ..network.headroom import CELL, DEEP_EXCESS, FIRST_STATISTIC, REACHES, STATISTICS, fitted_radius, reach_gate

VOLUME_REACHES = (1, 2, 4)
VOLUME_PLATEAU = 2
"""The volume's plateau of reach rho spreads over ``VOLUME_PLATEAU`` rho cells within a slice (module doc)."""
VOLUME_COMPACT = 0.5
"""The ratio of the volume's two boxes' excess (headroom.reach_gate's ``compact``) from which a focus reads as compact
in the volume: a ball reads 1, a plate through the box's centre (the skull) 1/4, clutter spread evenly 1/8 (module
doc); a slice's own gates read from ``headroom.COMPACT`` (a line 1/2, clutter 1/4)."""
FINISH_CHUNK = 32
"""Slices finished in one call: the volume's sums are made over the chunk and the slices within reach of it (at
a 512x512x300 CT's 0.5 x 0.5 x 1 mm, 33 slices either way)."""
SUMS = 5
"""Window sums a slice keeps for each reach measured in the volume (:func:`kept_for_neighbours`)."""

Reach = Tuple[int, Optional[torch.Tensor]]


def slice_reaches(spacing: Sequence[float]) -> Dict[int, Reach]:
    """For each reach measured in the volume: its distance across slices rz (> 0) and the Gaussian across slices
    (None under half a slice), for a volume of (slice, row, column) ``spacing`` in mm (all > 0)."""
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers (slice, row, column) in mm, got {tuple(spacing)}")
    ratio = (spacing[1] + spacing[2]) / 2.0 / spacing[0]
    reaches = {}
    for rho in VOLUME_REACHES:
        slices, sigma = int(round(rho * CELL * ratio)), max(0.5, 0.35 * rho) * CELL * ratio
        if slices:
            reaches[rho] = (slices, gaussian(sigma) if sigma >= 0.5 else None)
    return reaches


def reach_in_slices(reaches: Dict[int, Reach]) -> int:
    """How many slices away a slice's fields still change another's pedestal: the wider box (2 rz), the window
    (rz) and the Gaussian's radius."""
    return max((3 * rz + (0 if kernel is None else len(kernel) // 2) for rz, kernel in reaches.values()), default=0)


def kept_for_neighbours(fields: torch.Tensor, reaches: Dict[int, Reach]) -> Tuple[torch.Tensor, torch.Tensor]:
    """What each of n slices keeps for its neighbours' gates, from their fields (n, ..., h, w;
    headroom.pedestal_fields): its excess (n, 1, h, w; a copy, so that the fields can go) and the window sums
    within it that a volume's gates add up across slices (n, SUMS len(reaches), h, w): for each reach in
    ``reaches`` (ascending), the excess's cells and amount over the reach's window and the excess's cells, the
    body's cells and the excess's amount over the window twice as wide."""
    statistics = fields[:, FIRST_STATISTIC + 1:FIRST_STATISTIC + len(STATISTICS)]  # share, body, amount
    side = int(min(fields.shape[-2:]))
    radii = {rho: (fitted_radius(rho, side), fitted_radius(2 * rho, side)) for rho in sorted(reaches)}
    windows = window_sums(statistics, sorted({r for pair in radii.values() for r in pair})) if radii else {}
    sums = [torch.cat([windows[near][:, 0::2], windows[wide]], 1) for near, wide in radii.values()]
    return fields[:, FIRST_STATISTIC:FIRST_STATISTIC + 1].clone(), torch.cat(sums, 1) if sums else fields[:, :0]


def _across(x: torch.Tensor, matrix: np.ndarray, first: int) -> torch.Tensor:
    """``matrix`` (m, k) across the slices first..first + k of x (n, C, h, w): (m, C, h, w), one product."""
    rows = x[first:first + matrix.shape[1]]
    weights = torch.from_numpy(matrix).to(rows)
    return (weights @ rows.reshape(matrix.shape[1], -1)).reshape(matrix.shape[0], *rows.shape[1:])


def _sums_across(x: torch.Tensor, slices: int, rows: slice) -> torch.Tensor:
    """Sums of (n, C, h, w) over the ``slices`` slices either side of each of ``rows``, zero beyond the stack."""
    n = int(x.shape[0])
    first, last = max(0, rows.start - slices), min(n, rows.stop + slices)
    out = np.arange(rows.start, rows.stop)[:, None]
    source = np.arange(first, last)[None, :]
    return _across(x, (np.abs(source - out) <= slices).astype(np.float32), first)


def _max_across(x: torch.Tensor, slices: int) -> torch.Tensor:
    """The maximum of non-negative (n, 1, h, w) over the ``slices`` slices either side (zero beyond the stack)."""
    rows = x[:, 0].permute(1, 2, 0).unsqueeze(0)  # (1, h, w, n): slices last
    return max_along(rows, slices, -1)[0].permute(2, 0, 1).unsqueeze(1)


def _blur_across(x: torch.Tensor, kernel: Optional[torch.Tensor], rows: slice, first: int, n: int) -> torch.Tensor:
    """The slices ``rows`` of a stack of n convolved across slices with ``kernel`` (None: unchanged), its end
    slices repeated, from x (k, 1, h, w): its slices first..first + k, every slice within the kernel's reach of
    ``rows`` in the stack."""
    if kernel is None:
        return x[rows.start - first:rows.stop - first]
    taps, out = len(kernel) // 2, np.arange(rows.start, rows.stop)
    matrix = np.zeros((len(out), int(x.shape[0])), np.float64)
    for offset, weight in zip(range(-taps, taps + 1), kernel.double().tolist()):
        np.add.at(matrix, (np.arange(len(out)), np.clip(out + offset, 0, n - 1) - first), weight)
    return _across(x, matrix.astype(np.float32), 0)


def volume_plateaus(excess: torch.Tensor, sums: torch.Tensor, reaches: Dict[int, Reach],
                    rows: Optional[slice] = None) -> torch.Tensor:
    """The volume's plateau of each reach (len(rows), len(REACHES), h, w; 0 for the reaches not in ``reaches``) at
    the slices ``rows`` (default: all) of n consecutive slices, from what each slice keeps for its neighbours: its
    excess (n, 1, h, w) and window sums (:func:`kept_for_neighbours`).
    Each reach works on the slices it needs for those rows only."""
    n, side = int(excess.shape[0]), int(min(excess.shape[-2:]))
    rows = rows or slice(0, n)
    plateaus = excess.new_zeros((rows.stop - rows.start, len(REACHES)) + tuple(excess.shape[-2:]))
    for index, rho in enumerate(REACHES):
        if rho not in reaches or 2 * rho + 1 > side:
            continue
        slices, kernel = reaches[rho]
        taps = 0 if kernel is None else len(kernel) // 2
        blurred = slice(max(0, rows.start - taps), min(n, rows.stop + taps))  # the slices the blur reads
        gates = slice(max(0, blurred.start - slices), min(n, blurred.stop + slices))  # those the maximum reads
        column = SUMS * sorted(reaches).index(rho)
        near = _sums_across(sums[:, column:column + 2], slices, gates).split(1, 1)
        around = _sums_across(sums[:, column + 2:column + SUMS], 2 * slices, gates).split(1, 1)
        window = (2 * fitted_radius(2 * rho, side) + 1) ** 2 * (4 * slices + 1)
        gate = reach_gate(rho, near, around, window, ramp(excess[gates], *DEEP_EXCESS), sums[gates, column:column + 1],
                          VOLUME_COMPACT)
        reach, gate = window_max(torch.cat([excess[gates], gate]), VOLUME_PLATEAU * rho).split(
            gates.stop - gates.start)
        plateau = (_max_across(reach, slices) * _max_across(gate, slices))[blurred.start - gates.start:
                                                                           blurred.stop - gates.start]
        plateaus[:, index:index + 1] = _blur_across(plateau, kernel, rows, blurred.start, n)
    return plateaus


def finishing_plateaus(volume: torch.Tensor, fields: torch.Tensor, reaches: Dict[int, Reach]) -> torch.Tensor:
    """The plateaus (N, len(REACHES), h, w) a volume's slices are finished with (headroom.pedestal_from_fields): the
    volume's (:func:`volume_plateaus`) for the reaches measured across slices (``reaches``), the slices' own (from
    their ``fields``, headroom.pedestal_fields) for the others."""
    return torch.cat([volume[:, i:i + 1] if rho in reaches else fields[:, i:i + 1] for i, rho in enumerate(REACHES)], 1)


class SliceFinisher:
    """Finishes a volume's fused slices into ``out`` (n, h, w) once the slices within reach are fused.

    ``to_fuse``: the indices of the slices that will be fused (the others count as having no excess and no
    body); call :meth:`add` with each fused batch's parts (padded slices; cropped to h x w on output), then
    :meth:`finish_ready`; after the last batch every slice is finished."""

    def __init__(self, out: np.ndarray, to_fuse: np.ndarray, spacing: Sequence[float]):
        self.out = out
        self.reaches = slice_reaches(spacing)
        self.reach = reach_in_slices(self.reaches)
        self.unfused = sorted(int(k) for k in to_fuse)
        self.parts: Dict[int, TransferParts] = {}
        self.kept: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}  # each slice's excess and window sums

    def add(self, indices: Sequence[int], parts: TransferParts) -> None:
        """Keep a fused batch's parts (on their device: a GPU finishes its own slices), slice ``indices[i]`` in
        row i, and what each slice keeps for the volume's gates (:func:`kept_for_neighbours`, made once a slice)."""
        excess, sums = kept_for_neighbours(parts.fields, self.reaches)
        for row, k in enumerate(int(k) for k in indices):
            self.parts[k] = TransferParts(*(t[row:row + 1] for t in parts.tensors()))
            self.kept[k] = (excess[row], sums[row])
            self.unfused.remove(k)

    def finish_ready(self) -> None:
        """Finish the kept slices whose slices within reach are all fused, ``FINISH_CHUNK`` at a time (all of
        them once every slice is fused); forget the fields no slice needs any more."""
        frontier = self.unfused[0] if self.unfused else math.inf
        ready = sorted(k for k in self.parts if k + self.reach < frontier)
        if len(ready) < FINISH_CHUNK and self.unfused:
            return
        for start in range(0, len(ready), FINISH_CHUNK):
            self._finish(ready[start:start + FINISH_CHUNK])
        unfinished = min(list(self.parts) + self.unfused, default=math.inf)
        for k in [k for k in self.kept if k + self.reach < unfinished]:
            del self.kept[k]

    def _finish(self, ready: List[int]) -> None:
        """Finish the slices ``ready`` (ascending), each on its own: a 512x512 slice's full-size steps stay in a
        CPU core's cache, which a chunk's do not (half the time)."""
        volume = None
        if self.reaches:
            low, high = max(0, ready[0] - self.reach), min(len(self.out), ready[-1] + self.reach + 1)
            excess, sums = next(iter(self.kept.values()))
            outside = (torch.zeros_like(excess), torch.zeros_like(sums))
            slab = [self.kept.get(k, outside) for k in range(low, high)]
            volume = volume_plateaus(torch.stack([e for e, _ in slab]), torch.stack([s for _, s in slab]),
                                     self.reaches, slice(ready[0] - low, ready[-1] - low + 1))
        h, w = self.out.shape[1:]
        for k in ready:
            parts = self.parts.pop(k)
            plateaus = None if volume is None else finishing_plateaus(volume[k - ready[0]:k - ready[0] + 1],
                                                                      parts.fields, self.reaches)
            self.out[k] = finish(parts, plateaus)[0, 0, :h, :w].cpu().numpy()
