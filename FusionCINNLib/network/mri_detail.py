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

No trained parameters; H costs about 0.9 ms a 256x256 slice (window sums on an integral image, network.cell_grid),
read once for both stages.
"""

from __future__ import annotations

import torch

from .cell_grid import window_sums

DETAIL_BOX = 31
"""The side (px) of the square window of the MRI's local mean that its own bright detail is read against."""
HEAD_FLOOR = 0.1
"""The MRI's pixels over this (0..1 units) are the head its local mean is read within (not the air beyond it)."""
SPARE_FLOOR = 0.35
"""How far (0..1 units) the MRI must stand over its local mean for the transfer's darkening to be spared at all."""
SPARE_RAMP = 0.1
"""How much further (0..1 units) over its local mean the MRI must stand for the darkening to be spared fully."""


def height_over_local_mean(b: torch.Tensor) -> torch.Tensor:
    """H (module doc): how far the MRI ``b`` (N, 1, H, W; 0..1 units) stands over its mean within the head over the
    ``DETAIL_BOX`` px square around each pixel; same shape, -1..1 (negative where it is darker than that mean)."""
    head = (b > HEAD_FLOOR).to(b.dtype)
    reach = DETAIL_BOX // 2
    inside, count = window_sums(torch.cat([b * head, head], 1), [reach])[reach].split(1, 1)
    return b - inside / count.clamp_min(1.0)


def darkening_spared(correction: torch.Tensor, height: torch.Tensor) -> torch.Tensor:
    """The transfer's ``correction`` (N, 1, H, W; 0..1 units) with its negative part taken off where the MRI's
    ``height`` over its local mean (:func:`height_over_local_mean`) is over ``SPARE_FLOOR``, fully from
    ``SPARE_FLOOR`` + ``SPARE_RAMP``; its positive part unchanged."""
    spared = ((height - SPARE_FLOOR) * (1.0 / SPARE_RAMP)).clamp(0.0, 1.0)
    return correction - spared * correction.clamp_max(0.0)
