"""Headroom: room at the top of the range for a finding the transfer puts back.

A finding the finding transfer puts back can only rise to white. Where the fused image around it is
already bright (the MRI's tissue brighter than the CT's or the PET's), the final clip cuts the finding's
excess and it stands out less than in its source (docs/findings.md, rounds 2, 8 and 9). This stage lowers
the finding's surroundings instead: a smooth pedestal, level over the finding and its surroundings, as
high as the excess the clip would cut.

On a grid of ``CELL`` x ``CELL`` px cells (e: the excess the transfer's addition T would lose at white,
min(T, F + T - 1 - D), counted where over ``EXCESS_FLOOR``, D the MRI's own bright detail, below; n: the share of
each cell's pixels that have it),
for each reach rho in ``REACHES`` (cells):

    r_rho   = sqrt(sum of n over the (2 rho + 1)^2 window / pi)     the excess blob's radius (cells)
    k_rho   = sum of n over the (2 rho + 1)^2 window / that over (4 rho + 1)^2
                                                                    1 for a compact focus, about 1/2 for a
                                                                    ridge (the skull's inner table), 1/4 for
                                                                    a wide region
    m_rho   = the same ratio of e's cell means, times ramp(e; 0.15 -> 0.3) (DEEP_EXCESS)
                                                                    compactness by amount where the excess
                                                                    is deep: a focus whose excess is 0.3 is
                                                                    not read as spread by the faint excess
                                                                    scattered around it
    b_rho   = the share of the (4 rho + 1)^2 window in the body (cells where the fused image or A is over
              BODY_FLOOR; beyond the image counts as outside it)
    x_rho   = the excess's cells in that window / its body's cells
    s_rho   = clip(2 r_rho / (BLOB_SHARE rho) - 1, 0, 1) clip((max(k_rho, m_rho) - COMPACT) / (1 - COMPACT), 0, 1)
              ramp(b_rho; 0.6 -> 0.8) ramp(x_rho; 0.3 -> 0.15)          AMID_BODY, SMALL_PART: 0 at the
                                                                    first value, 1 at the second
    P_rho   = G_{0.35 rho} * (max_rho(e) max_rho(s_rho)) - DEAD_ZONE rho / 8, at least 0
                                                                    max_rho: the window maximum; G_s a
                                                                    Gaussian blur (sigma s cells)

so a focus of radius r gets a plateau reaching about 3 r, level over the focus and the shell around it,
and a ridge or a wide region gets none. The dead zone (0.0125 at the smallest reach, 0.1 at the widest)
keeps faint, wide plateaus off: without it a noisy PET's many small excesses lowered 16 % of a phantom
brain by over 0.02, differently on each slice, which shows as bands across a volume's slices (with it
4.6 %, most of it around the phantom's hot lesion). The body terms keep a plateau to a focus that is small
against the body around it: at a head's ends (skull base, vertex) the head is small in the slice and the
CT's bone compact in it, and without them bone lowered up to 94 % of such a slice's head on the phantom, a
slice-wide darkening unlike the slices around it (docs/findings.md, tenth round). The pedestal
P = max_rho P_rho is bound by the room: for the wide reaches the fused image's local mean over A's (G_2 of the
cell means of F + T - A: the surroundings are not taken below the source that shows the finding); for the small
reaches its local mean over the darker source's, min(A, B), except where A shows the finding itself (T at least
``CORE_ADDITION``, or A's cell means over their local mean, G_``LIFT_SIGMA``, fully from ``A_RISE_FULL``), where it is
over A's: in a PET's white matter the fused image is as bright as A around a small focus, no room over A, while the
MRI under it is darker; a large focus's body, which A raises over its surroundings, keeps its value (docs/findings.md,
thirty-second and thirty-third rounds). The pedestal is upsampled bilinearly to the image. Inside the finding
itself it is at most the excess there, so the finding keeps min(F + T, 1), the value it had: only its surroundings
come down. For the wide reaches (4, 8) the finding is where T is ``CORE_ADDITION``
or more, so that a large focus's body that is not at white keeps its value under the plateau of its cut parts.
For the small reaches (``SMALL_REACHES``) it is where the pixel is cut at white (fully from ``CUT_FULL`` over) or
T rises ``CORE_ADDITION`` over its local mean (G_``LIFT_SIGMA`` of its cell means): around a small focus in a
PET's white matter the transfer also lifts the shell by 0.1-0.2 (its coarsest level, A's regional pattern), and
read from T itself that shell was part of the finding and kept its value, so the focus had no room
(docs/findings.md, twenty-ninth to thirty-first rounds).

D is how far the MRI B stands over its local mean within the head (network.mri_detail: its mean over a 31 px square,
counting B's pixels over 0.1, not the air beyond the scalp) by more than ``DETAIL_FLOOR``: an MRI's bright lesion
takes the fused image to white by itself, and A's structure the transfer adds beside it (a SPECT blob, a PET's
cortical ribbon) is then cut over the lesion's compact patch only; read as A's compact finding, its pedestal lowered
the lesion's other half by up to 0.2 (a SPECT-MRI lesion's imprint 0.93 to 0.33). Such a lesion stands 0.37-0.61 over
its mean, the MRI's cortex at the head's layered edge at most 0.30, where A's foci keep their room (docs/findings.md,
thirty-sixth round).

It has no trained parameters and costs 1.3-3.4 ms a 256x256 slice, by machine (eager), about 1 ms more with the two
readings of the finding and 0.9 ms more with the MRI's bright detail (docs/speed.md). Sizes are read as Python ints
(``int(x.shape[d])``), constants in a trace made per input shape (fusion.traced_net). Its cell statistics and gated
plateaus (:func:`cell_statistics`, :func:`gated_plateaus`) also serve the floor at black (network.floor_pedestal).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .cell_grid import blur, gaussian, ramp, window_max, window_sums
from .masks import cell_max, kept_over, over
from .mri_detail import height_over_local_mean

CELL = 4
REACHES = (1, 2, 4, 8)
EXCESS_FLOOR = 0.02
BLOB_SHARE = 0.3
COMPACT = 0.7
BOUND_SIGMA = 2.0
CORE_ADDITION = 0.1
DEAD_ZONE = 0.1
BODY_FLOOR = 0.05
AMID_BODY = (0.6, 0.8)
SMALL_PART = (0.3, 0.15)
DEEP_EXCESS = (0.15, 0.3)
SMALL_REACHES = (1, 2)
"""The reaches whose plateau reads the finding's own pixels from the cut and T's rise over its local mean."""
LIFT_SIGMA = 3.0
"""The Gaussian (cells) of T's local mean, the lift a small focus's shell shares with it."""
CUT_FULL = 0.02
"""How far over white (0..1 units) a pixel must be cut to be read as wholly inside the finding."""


SIGMAS = {rho: max(0.5, 0.35 * rho) for rho in REACHES}
GAUSSIANS = {rho: gaussian(sigma) for rho, sigma in SIGMAS.items()}
BOUND_GAUSSIAN = gaussian(BOUND_SIGMA)
LIFT_GAUSSIAN = gaussian(LIFT_SIGMA)


A_RISE_FULL = 0.05
"""How far A's cell mean must rise over its local mean (0..1 units) for the small reaches' room to be over A alone."""
DETAIL_FLOOR = 0.4
"""How far (0..1 units) the MRI must stand over its local mean before the excess over it is read as its own."""


STATISTICS = ("excess", "share", "body", "amount")
"""The cell statistics kept in the fields after the plateaus, the rooms and A's rise: each cell's largest excess, the
share of its pixels with excess, the share in the body, and its mean excess."""
ROOM = len(REACHES)
"""The fields' channel of the room over A (after one plateau a reach)."""
DARKER_ROOM = ROOM + 1
"""The fields' channel of the room over the darker source, min(A, B)."""
A_RISE = ROOM + 2
"""The fields' channel of A's rise: its cell means less their local mean; ``STATISTICS`` follow, from
``FIRST_STATISTIC``."""
FIRST_STATISTIC = ROOM + 3


def fitted_radius(radius: int, side: int) -> int:
    """A window radius (cells) cut to fit a grid whose shorter side has ``side`` cells: at most (side - 1) // 2."""
    return min(radius, (side - 1) // 2)


def reach_gate(rho: int, near: Sequence[torch.Tensor], around: Sequence[torch.Tensor], window: float,
               deep: torch.Tensor, blob: torch.Tensor, compact: float = COMPACT) -> torch.Tensor:
    """s_rho (module doc) from window sums: ``near`` (excess cells, excess amount) over the reach's window,
    ``around`` (excess cells, body cells, excess amount) over the window twice as wide, of ``window`` cells,
    ``deep`` = ramp(e; DEEP_EXCESS), ``blob`` the excess cells in the reach's window of the slice itself, and
    ``compact`` the ratio of the two windows' excess from which a focus begins to read as compact."""
    count, amount_near = near
    count_around, body_around, amount_around = around
    size = ramp(2.0 * (blob / math.pi).sqrt() / (BLOB_SHARE * rho), 1.0, 2.0)
    compactness = ramp(torch.maximum(count / count_around.clamp_min(1e-6),
                                     deep * amount_near / amount_around.clamp_min(1e-6)), compact, 1.0)
    amid = (ramp(body_around / window, *AMID_BODY)
            * ramp(count_around / body_around.clamp_min(1e-6), *SMALL_PART))
    return size * compactness * amid


def cell_statistics(values: torch.Tensor, bright: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch's ``values`` (N, 1, H, W; the excess over white, or the floor's deficit under black, 0..1 units) counted
    where over ``EXCESS_FLOOR``, on ``CELL`` px cells: each cell's largest value, the share of its pixels counted, the
    share in the body (``bright``, the brightest of the images there, over ``BODY_FLOOR``) and its mean value; each
    (N, 1, ceil(H / CELL), ceil(W / CELL))."""
    counted = over(values, EXCESS_FLOOR)
    values = kept_over(values, EXCESS_FLOOR)
    cells = cell_max(values, CELL)
    share = F.avg_pool2d(counted, CELL, stride=CELL, ceil_mode=True)
    body = F.avg_pool2d(over(bright, BODY_FLOOR), CELL, stride=CELL, ceil_mode=True)
    return cells, share, body, F.avg_pool2d(values, CELL, stride=CELL, ceil_mode=True)


def gated_plateaus(cells: torch.Tensor, share: torch.Tensor, body: torch.Tensor, amount: torch.Tensor,
                   reaches: Sequence[int]) -> List[torch.Tensor]:
    """For each reach rho (cells) of ``reaches``, the plateau max_rho(e) max_rho(s_rho) (module doc) before its blur,
    from :func:`cell_statistics` (e: ``cells``); zeros where the reach does not fit the grid."""
    side, n = int(min(cells.shape[-2:])), int(cells.shape[0])
    deep = ramp(cells, *DEEP_EXCESS)
    radii = {reach: fitted_radius(reach, side) for reach in tuple(reaches) + tuple(2 * rho for rho in reaches)}
    sums = window_sums(torch.cat([share, body, amount], 1), sorted(set(radii.values())))
    counts = {reach: sums[r].split(1, 1) for reach, r in radii.items()}  # counted cells, body cells, amount
    plateaus = []
    for rho in reaches:
        if 2 * rho + 1 > side:
            plateaus.append(torch.zeros_like(cells))
            continue
        count, _, amount_near = counts[rho]
        gate = reach_gate(rho, (count, amount_near), counts[2 * rho], (2 * radii[2 * rho] + 1) ** 2, deep, count)
        reach, gate = window_max(torch.cat([cells, gate]), rho).split(n)
        plateaus.append(reach * gate)
    return plateaus


def blurred_plateau(plateau: torch.Tensor, rho: int) -> torch.Tensor:
    """A reach's plateau (N, 1, h, w, on cells) blurred by its Gaussian (``SIGMAS[rho]`` cells); as it is on a grid too
    small for that blur."""
    if len(GAUSSIANS[rho]) <= int(min(plateau.shape[-2:])):
        return blur(plateau, SIGMAS[rho])
    return plateau


def room_over(difference: torch.Tensor) -> torch.Tensor:
    """A room on ``CELL`` px cells from a batch's ``difference`` (N, 1, H, W; 0..1 units, the fused image over a
    source, or the brightest image over it): the Gaussian (``BOUND_SIGMA`` cells) of its cell means, at least 0; inf
    on a grid too small for that blur (no bound)."""
    cells = F.avg_pool2d(difference, CELL, stride=CELL, ceil_mode=True)
    if len(BOUND_GAUSSIAN) > int(min(cells.shape[-2:])):
        return torch.full_like(cells, math.inf)
    return blur(cells, BOUND_SIGMA).clamp_min(0.0)


def pedestal_fields(fused: torch.Tensor, correction: torch.Tensor, a: torch.Tensor,
                    b: Optional[torch.Tensor] = None, height: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The pedestal's fields of one batch of slices (N, 1, H, W; module doc) on its grid of ``CELL`` px cells: (N,
    len(REACHES) + 3 + len(STATISTICS), ceil(H / CELL), ceil(W / CELL)): the plateau max_rho(e) max_rho(s_rho) of
    each reach before its blur (0 where the reach does not fit the slice), the rooms the pedestal is bound by,
    over A and over min(A, B) (inf where the slice is too small to bound it; ``b`` None: both over A, and the
    excess read over white alone), A's rise over its local mean, then the cell statistics (``STATISTICS``) that a
    volume's gates are made from (fusion.across_slices). ``height``: B's height over its local mean
    (network.mri_detail), if already read; None: read from ``b``."""
    total = fused + correction
    if b is None:
        over = total - 1.0
    else:
        over = total - 1.0 - mri_bright_detail(height_over_local_mean(b) if height is None else height)
    cells_excess, share, body, amount = cell_statistics(torch.minimum(correction, over), torch.maximum(fused, a))
    n = int(fused.shape[0])
    plateaus = gated_plateaus(cells_excess, share, body, amount, REACHES)
    darker = a if b is None else torch.minimum(a, b)
    rooms = room_over(torch.cat([total - a, total - darker])).split(n)
    cells_a = F.avg_pool2d(a, CELL, stride=CELL, ceil_mode=True)
    return torch.cat(plateaus + list(rooms) + [cells_a - _local_mean(cells_a), cells_excess, share, body, amount], 1)


def pedestal_from_fields(fields: torch.Tensor, fused: torch.Tensor, correction: torch.Tensor,
                         volume: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The pedestal (N, 1, H, W; >= 0) from :func:`pedestal_fields`: each reach's plateau blurred, less its dead
    zone; the largest of the small reaches and of the wide ones, each bound by the room, upsampled to the image, and
    inside the finding as each reads it at most the excess there (module doc). ``volume``: (N, len(REACHES), h, w)
    plateaus of a volume's slices (fusion.across_slices), used instead of the slice's own."""
    plateaus = fields[:, :len(REACHES)] if volume is None else volume
    small, wide = torch.zeros_like(fields[:, :1]), torch.zeros_like(fields[:, :1])
    for index, rho in enumerate(REACHES):
        plateau = (blurred_plateau(plateaus[:, index:index + 1], rho) - DEAD_ZONE * rho / REACHES[-1]).clamp_min(0.0)
        if rho in SMALL_REACHES:
            small = torch.maximum(small, plateau)
        else:
            wide = torch.maximum(wide, plateau)
    room, darker_room = fields[:, ROOM:ROOM + 1], fields[:, DARKER_ROOM:DARKER_ROOM + 1]
    size = fused.shape[-2:]
    wide, small_over_a, small, rise_a = upsampled(torch.cat(
        [torch.minimum(wide, room), torch.minimum(small, room), torch.minimum(small, darker_room),
         fields[:, A_RISE:A_RISE + 1]], 1), size).split(1, 1)
    over = fused + correction - 1.0
    cut = over.clamp_min(0.0)
    by_addition = (correction * (1.0 / CORE_ADDITION)).clamp(0.0, 1.0)
    small = torch.lerp(small, small_over_a, torch.maximum(by_addition, (rise_a * (1.0 / A_RISE_FULL)).clamp(0.0, 1.0)))
    rise = correction - upsampled(_local_mean(F.avg_pool2d(correction, CELL, stride=CELL, ceil_mode=True)), size)
    by_rise = torch.maximum((over * (1.0 / CUT_FULL)).clamp(0.0, 1.0), (rise * (1.0 / CORE_ADDITION)).clamp(0.0, 1.0))
    pedestals = [torch.lerp(pedestal, torch.minimum(pedestal, cut), inside)
                 for pedestal, inside in ((wide, by_addition), (small, by_rise))]
    return torch.maximum(*pedestals)


def mri_bright_detail(height: torch.Tensor) -> torch.Tensor:
    """D (module doc): how far the MRI stands over its local mean within the head by more than ``DETAIL_FLOOR``, from
    its ``height`` over that mean (N, 1, H, W; network.mri_detail); same shape, >= 0."""
    return (height - DETAIL_FLOOR).clamp_min(0.0)


def upsampled(cells: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """A cell grid's field (N, 1, h, w) on the image's pixels (``size``), bilinear."""
    return F.interpolate(cells, size=size, mode="bilinear", align_corners=False)


def _local_mean(cells: torch.Tensor) -> torch.Tensor:
    """The Gaussian mean (``LIFT_SIGMA`` cells) of a cell grid's field; on a grid too small for it, its mean."""
    if len(LIFT_GAUSSIAN) <= int(min(cells.shape[-2:])):
        return blur(cells, LIFT_SIGMA)
    return cells.mean(dim=(-2, -1), keepdim=True).expand_as(cells)


def headroom_pedestal(fused: torch.Tensor, correction: torch.Tensor, a: torch.Tensor,
                      b: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The pedestal to subtract from ``fused + correction`` (N, 1, H, W; 0..1 units, before the clip) so
    that a finding the correction adds is not cut at white (module doc), given sources ``a`` and ``b`` (None: the
    rooms are over A alone); same shape, >= 0. Zeros where nothing would be cut. Each slice on its own (a volume's
    slices: fusion.across_slices)."""
    return pedestal_from_fields(pedestal_fields(fused, correction, a, b), fused, correction)
