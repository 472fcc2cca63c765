"""The MRI's own bright detail: how far the MRI stands over its local mean within the head, and the finding
transfer's darkening spared where it stands out.

    H       = B - mean of B over the ``DETAIL_BOX`` px square around, counting B's pixels over ``HEAD_FLOOR``
                                                      (the head, not the air beyond the scalp)

An MRI bright lesion stands 0.37-0.61 over its mean, the MRI's cortex at the head's layered edge at most 0.30
(docs/findings.md, thirty-sixth round). Two later stages read H:

- the headroom pedestal reads the excess over white less max(H - 0.4, 0) (network.headroom);
- the finding transfer's correction T (network.finding_transfer) keeps its darkening only where the MRI does not
  stand out:

    T'      = T - w min(T, 0)                         w = clip((H - ``SPARE_FLOOR``) / ``SPARE_RAMP``, 0, 1)

  The transfer replaces the fused image's structure along A's by A's, and an MRI lesion that runs against A's band
  (a bright lesion over A's darker tissue, or over A's cold region) is part of that structure: the transfer took
  0.06-0.30 of the contrast off eight of the MRI's lesions under 0.8 (docs/findings.md, thirty-fifth round). Where the
  MRI stands out that far, A's darkening does not take it out; A's additions pass whole. With a lower floor the MRI's
  bright scalp and white matter beside A's findings lose the darkening that makes those findings stand out (at 0.3 a
  CT calcification at the head's edge, imprint 1.01 to 0.78). Where A and the MRI show findings of opposite signs in
  one place (a cold PET region on an MRI bright lesion, as a subacute haematoma) the MRI's lesion keeps its sign
  where it stands that far out; where it does not, A's sign shows where the MRI's structure is under about twice A's
  (finding_transfer's c_min; docs/findings.md, thirty-seventh round).

With config.finding_opposite (the PET and SPECT model) the darkening is also spared where the two sources show
findings of opposite signs in one place and the MRI's is the stronger:

    H_A     = A's height over its own mean within the same head, on 2x2 px cells over a 15-cell (30 px) square
    rho, k  = the correlation of H_B (its 2x2 means) with H_A and the slope of H_B on H_A over a 7-cell (14 px)
              square (``MIRROR_BOX``), read back on each cell's four pixels
    o       = ramp(-rho; 0.4 -> 0.5) ramp(-k; 1.1 -> 1.3) ramp(H_B; 0.02 -> 0.05)
    T'      = T - (1 - (1 - w)(1 - o)) min(T, 0)

that is, where the MRI's local structure mirrors A's (a bright lesion where A shows a cold region), more strongly than
A's (the slope beyond -1.1: the MRI's lesion stands further over its mean than A's region under its own), on the MRI's
bright side. Such a lesion need not stand 0.35 over its mean to be the stronger finding: a cold PET region x0.5 on
tissue at 0.3 is 0.15 deep, an MRI lesion x1.5 on tissue at 0.4 stands 0.2 high. A one-sided cold region on the MRI's
anatomy is rarely mirrored that closely and that strongly over 14 px; a CT's anatomy is (its white matter darker than
its cortex, a T1 MRI's brighter), and the CT model does not read it: there it spared the darkening that sets a CT
hyperdense region off from white matter (docs/findings.md, thirty-eighth round).

No trained parameters; H costs about 0.9 ms a 256x256 slice (window sums on an integral image, network.cell_grid),
read once for both stages; o about 1.6 ms more (on cells: at full resolution 3.8 ms).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .cell_grid import halved, ramp, window_mean, window_sums
from .masks import over

DETAIL_BOX = 31
"""The side (px) of the square window of the MRI's local mean that its own bright detail is read against."""
HEAD_FLOOR = 0.1
"""The MRI's pixels over this (0..1 units) are the head its local mean is read within (not the air beyond it)."""
SPARE_FLOOR = 0.35
"""How far (0..1 units) the MRI must stand over its local mean for the transfer's darkening to be spared at all."""
SPARE_RAMP = 0.1
"""How much further (0..1 units) over its local mean the MRI must stand for the darkening to be spared fully."""
MIRROR_BOX = 15
"""The side (px) of the square over which the MRI's height over its local mean is compared with A's (read on 2x2 px
cells: 7 cells, 14 px)."""
MIRROR_CORRELATION = (0.4, 0.5)
"""How far under 0 the two heights' correlation must be for an opposite finding: at all, fully."""
MIRROR_SLOPE = (1.1, 1.3)
"""How far under 0 the slope of the MRI's height on A's must be (beyond -1: the MRI's finding the stronger): at all,
fully."""
MIRROR_BRIGHT_SIDE = (0.02, 0.05)
"""How far over its local mean (0..1 units) the MRI must stand for its opposite finding to spare the darkening: at
all, fully."""
VARIANCE_FLOOR = 1e-8
"""The least variance of a height over the square (a flat square has no correlation)."""


def height_over_local_mean(x: torch.Tensor, b: Optional[torch.Tensor] = None, reach: int = DETAIL_BOX // 2
                           ) -> torch.Tensor:
    """H (module doc): how far ``x`` (N, 1, H, W; 0..1 units) stands over its mean within the head over the
    2 ``reach`` + 1 px square around each pixel (``DETAIL_BOX`` px by default), the head being the MRI ``b``'s pixels
    over ``HEAD_FLOOR`` (``x``'s own when ``b`` is None: x is the MRI); same shape, -1..1 (negative where it is darker
    than that mean)."""
    return x - window_mean(x, reach, over(x if b is None else b, HEAD_FLOOR))


def height_on_cells(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """H of ``x`` (module doc) on 2x2 px cells: its cells' height over their mean within the MRI ``b``'s head over a
    square of ``DETAIL_BOX`` // 4 cells each way (30 px). (N, 1, H, W), H and W even -> (N, 1, H/2, W/2)."""
    return height_over_local_mean(halved(x), halved(b), DETAIL_BOX // 4)


def opposite_finding(height_a: torch.Tensor, height_b: torch.Tensor) -> torch.Tensor:
    """o (module doc): 1 where the MRI's height over its local mean (``height_b``, :func:`height_over_local_mean`,
    (N, 1, H, W), H and W even) mirrors A's (``height_a``, :func:`height_on_cells`) over the ``MIRROR_BOX`` px square,
    more strongly than A's, on the MRI's bright side; 0 elsewhere. Read on 2x2 px cells (a quarter of the work); the
    MRI's shape, 0..1."""
    cells_height_b = halved(height_b)
    stacked = torch.cat([height_a, cells_height_b, height_a * height_a, cells_height_b * cells_height_b,
                         height_a * cells_height_b], 1)
    reach = MIRROR_BOX // 4
    mean_a, mean_b, square_a, square_b, product = (window_sums(stacked, [reach])[reach] / (2 * reach + 1) ** 2
                                                   ).split(1, 1)
    variance_a = (square_a - mean_a * mean_a).clamp_min(VARIANCE_FLOOR)
    variance_b = (square_b - mean_b * mean_b).clamp_min(VARIANCE_FLOOR)
    covariance = product - mean_a * mean_b
    mirrored = (ramp(-covariance / (variance_a * variance_b).sqrt(), *MIRROR_CORRELATION)
                * ramp(-covariance / variance_a, *MIRROR_SLOPE))
    return F.interpolate(mirrored, scale_factor=2.0, mode="nearest") * ramp(height_b, *MIRROR_BRIGHT_SIDE)


def darkening_spared(correction: torch.Tensor, height: torch.Tensor, opposite: Optional[torch.Tensor] = None
                     ) -> torch.Tensor:
    """The transfer's ``correction`` (N, 1, H, W; 0..1 units) with its negative part taken off where the MRI's
    ``height`` over its local mean (:func:`height_over_local_mean`) is over ``SPARE_FLOOR``, fully from
    ``SPARE_FLOOR`` + ``SPARE_RAMP``, and, given ``opposite`` (:func:`opposite_finding`), also by that share; its
    positive part unchanged."""
    spared = ((height - SPARE_FLOOR) * (1.0 / SPARE_RAMP)).clamp(0.0, 1.0)
    if opposite is not None:
        spared = 1.0 - (1.0 - spared) * (1.0 - opposite)
    return correction - spared * correction.clamp_max(0.0)
