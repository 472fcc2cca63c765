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
    plateau       the window maximum of the excess and of s_rho within the slice (as in one slice), then
                  over the rz slices either side, then a Gaussian across slices of the in-plane blur's width
                  (0.35 rho cells in the same units; none under half a slice)

and each slice's pedestal is the larger of its own reaches' and the volume's (headroom.pedestal_from_fields):
it never has less than a slice fused on its own. The reach 8 is not measured in the volume: on the phantom it
passed no further finding, and it would hold twice as many slices. Where the slices are so thick that rz is 0
for every reach, the volume's pedestal is the slices' own. On the phantom, with its findings fused as whole
volumes, this passes 6 more of 99 findings and loses none, and the pedestal lowers its noisy PET and the ends
of its CT-MRI head no more than slice by slice (docs/findings.md, thirteenth round).

Slices are finished (network.fusion_net.finish) ``FINISH_CHUNK`` at a time once every slice to fuse within reach
is fused, by the worker that fused the last of them (fusion.slices), so only those slices' parts are held (over
three times a slice's memory each). Finishing costs about 50 ms a 512x512 slice on a 2-core CPU (docs/speed.md).
A stack of unrelated pictures is not a volume: it is fused slice by slice (fuse_slices without ``spacing``).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..network.fusion_net import TransferParts, finish
from ..network.headroom import (CELL, DEEP_EXCESS, REACHES, STATISTICS, _gaussian, _max_along, _ramp,
                                _window_max, _window_sums, reach_gate)

VOLUME_REACHES = (1, 2, 4)
FINISH_CHUNK = 32
"""Slices finished in one call: the volume's sums are made over the chunk and the slices within reach of it (at
a 512x512x300 CT's 0.5 x 0.5 x 1 mm, 33 slices either way)."""

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
            reaches[rho] = (slices, _gaussian(sigma) if sigma >= 0.5 else None)
    return reaches


def reach_in_slices(reaches: Dict[int, Reach]) -> int:
    """How many slices away a slice's fields still change another's pedestal: the wider box (2 rz), the window
    (rz) and the Gaussian's radius."""
    return max((3 * rz + (0 if kernel is None else len(kernel) // 2) for rz, kernel in reaches.values()), default=0)


def _sums_across(x: torch.Tensor, slices: int) -> torch.Tensor:
    """Sums of (n, C, h, w) over the ``slices`` slices either side of each, zero beyond the stack: a running sum
    across slices (in float64, so that a long stack loses no digits)."""
    n = int(x.shape[0])
    wide = x.double()
    zeros = torch.zeros_like(wide[:1])
    table = torch.cat([zeros.expand(slices + 1, *wide.shape[1:]), wide,
                       zeros.expand(slices, *wide.shape[1:])]).cumsum(0)
    return (table[2 * slices + 1:2 * slices + 1 + n] - table[:n]).to(x.dtype)


def _max_across(x: torch.Tensor, slices: int) -> torch.Tensor:
    """The maximum of non-negative (n, 1, h, w) over the ``slices`` slices either side (zero beyond the stack)."""
    rows = x[:, 0].permute(1, 2, 0).unsqueeze(0)  # (1, h, w, n): slices last
    return _max_along(rows, slices, -1)[0].permute(2, 0, 1).unsqueeze(1)


def _blur_across(x: torch.Tensor, kernel: Optional[torch.Tensor]) -> torch.Tensor:
    """(n, 1, h, w) convolved across slices with ``kernel`` (None: unchanged), the end slices repeated."""
    n = int(x.shape[0])
    if kernel is None or n == 1:
        return x
    taps = len(kernel) // 2
    rows = x[:, 0].permute(1, 2, 0).reshape(-1, 1, n)
    blurred = F.conv1d(F.pad(rows, (taps, taps), mode="replicate"), kernel.to(rows).view(1, 1, -1))
    return blurred.reshape(*x.shape[-2:], n).permute(2, 0, 1).unsqueeze(1)


def volume_plateaus(fields: torch.Tensor, reaches: Dict[int, Reach], rows: Optional[slice] = None) -> torch.Tensor:
    """The volume's plateau of each reach (len(rows), len(REACHES), h, w; 0 for the reaches not in ``reaches``) at
    the slices ``rows`` (default: all) of the fields (n, ..., h, w) of n consecutive slices
    (headroom.pedestal_fields; module doc). Each reach works on the slices it needs for those rows only."""
    first = len(REACHES) + 1
    excess, share, body, amount = fields[:, first:first + len(STATISTICS)].split(1, 1)
    n, side = int(fields.shape[0]), int(min(fields.shape[-2:]))
    rows = rows or slice(0, n)
    deep = _ramp(excess, *DEEP_EXCESS)
    plateaus = torch.zeros_like(fields[rows, :len(REACHES)])
    for index, rho in enumerate(REACHES):
        if rho not in reaches or 2 * rho + 1 > side:
            continue
        slices, kernel = reaches[rho]
        spread = slices + (0 if kernel is None else len(kernel) // 2)
        low, high = max(0, rows.start - spread), min(n, rows.stop + spread)  # the gates these rows need
        wide = slice(max(0, low - 2 * slices), min(n, high + 2 * slices))  # the sums those gates need
        inner = slice(low - wide.start, high - wide.start)
        near_radius, wide_radius = min(rho, (side - 1) // 2), min(2 * rho, (side - 1) // 2)
        in_slice = _window_sums(torch.cat([share[wide], amount[wide]], 1), [near_radius])[near_radius]
        near = _sums_across(in_slice, slices)[inner].split(1, 1)
        around = _window_sums(torch.cat([share[wide], body[wide], amount[wide]], 1), [wide_radius])[wide_radius]
        around = _sums_across(around, 2 * slices)[inner].split(1, 1)
        window = (2 * wide_radius + 1) ** 2 * (4 * slices + 1)
        gate = reach_gate(rho, near, around, window, deep[low:high], in_slice[inner, :1])
        reach, gate = _window_max(torch.cat([excess[low:high], gate]), rho).split(high - low)
        plateau = _blur_across(_max_across(reach, slices) * _max_across(gate, slices), kernel)
        plateaus[:, index:index + 1] = plateau[rows.start - low:rows.stop - low]
    return plateaus


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
        self.fields: Dict[int, torch.Tensor] = {}

    def add(self, indices: Sequence[int], parts: TransferParts) -> None:
        """Keep a fused batch's parts (on their device: a GPU finishes its own slices), slice ``indices[i]`` in
        row i."""
        for row, k in enumerate(int(k) for k in indices):
            self.parts[k] = TransferParts(*(t[row:row + 1] for t in (parts.fused, parts.correction, parts.mask,
                                                                     parts.fields)))
            self.fields[k] = self.parts[k].fields[0]
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
        for k in [k for k in self.fields if k + self.reach < unfinished]:
            del self.fields[k]

    def _finish(self, ready: List[int]) -> None:
        parts = [self.parts.pop(k) for k in ready]
        stacked = TransferParts(*(torch.cat(t) for t in zip(*((p.fused, p.correction, p.mask, p.fields)
                                                                for p in parts))))
        volume = None
        if self.reaches:
            low, high = max(0, ready[0] - self.reach), min(len(self.out), ready[-1] + self.reach + 1)
            outside = torch.zeros_like(stacked.fields[0])
            slab = torch.stack([self.fields.get(k, outside) for k in range(low, high)])
            rows = slice(ready[0] - low, ready[-1] - low + 1)
            volume = volume_plateaus(slab, self.reaches, rows)[[k - ready[0] for k in ready]]
        h, w = self.out.shape[1:]
        self.out[ready] = finish(stacked, volume)[:, 0, :h, :w].cpu().numpy()
