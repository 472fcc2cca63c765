"""Floor: room at the bottom of the range for a darkening the finding transfer puts back.

The headroom pedestal's mirror at black (network.headroom). Where the transfer's darkening T takes the fused image
under black (a cold region in a SPECT's cortex, an MRI dark lesion where a PET's white matter is already dark in the
fused image), the final clip at 0 cuts what goes under, and the finding stands out less than in its source: the clip
took a SPECT cold region from 1.03 of its imprint to 0.66 and two MRI dark lesions from 0.73 to 0.41 and from 0.84 to
0.69 (docs/findings.md, forty-second round). This stage lifts the finding's surroundings instead: a smooth plateau,
level over the finding and its surroundings, as high as the deficit the clip would cut.

On the headroom pedestal's grid of ``CELL`` x ``CELL`` px cells (d: the deficit under black that is the transfer's,
min(-T, -(F + T)), counted where over ``EXCESS_FLOOR``), for each reach rho in ``REACHES`` (cells):

    L_rho   = G_{0.35 rho} * (max_rho(d) max_rho(s_rho))          s_rho: the headroom's gate (headroom.reach_gate: the
                                                                 deficit blob's size, its compactness, the body around
                                                                 it, its small part of that body)
    L       = min(max_rho L_rho, G_2 * (max(F, A, B) - (F + T)))   the room: the surroundings are not lifted over the
                                                                 brightest of the images there (cell means)

upsampled bilinearly to the image. Inside the finding (F + T under black, fully from ``CUT_FULL`` under it, or T at
most -``CORE_ADDITION``) the lift is at most the deficit there, so the finding stays at black: only its surroundings
rise. The body is where max(F, A, B) is over ``BODY_FLOOR``.

Only the small reaches (4-8 px, 1-2 cells) lift: with the headroom's reach of 4 cells (16 px) the lift spread over
the MRI's bright tissue beside a dark patch and took an MRI bright lesion there towards white (imprint 0.45 to 0.30),
and it lifted 20-30 % of a phantom head's end slices by over 0.02. Without a dead zone (the headroom's is there
against a noisy PET's many small excesses at white) the lift raises 1.7 % of the noisy phantom PET's brain by over
0.02 (docs/findings.md, forty-third round). Each slice is lifted on its own, also in a volume.

No trained parameters; about 2.0 ms a 256x256 slice and 6.7 ms at 512x512, 5-7 % of the network's forward by thread
time (docs/speed.md). Sizes are read as Python ints, constants in a trace made per input shape (fusion.traced_net).
"""

from __future__ import annotations

import torch

from .headroom import (CORE_ADDITION, CUT_FULL, blurred_plateau, cell_statistics, gated_plateaus, room_over,
                       upsampled)

REACHES = (1, 2)
"""The reaches (cells) of the floor's plateaus: the headroom pedestal's small ones."""


def floor_field(fused: torch.Tensor, correction: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The floor's lift L on ``CELL`` px cells (module doc) of a batch of slices: the fused image before the transfer,
    the transfer's ``correction`` T and the sources ``a`` and ``b``, each (N, 1, H, W), 0..1 units ->
    (N, 1, ceil(H / CELL), ceil(W / CELL)), >= 0; zeros where nothing would be cut at black. On a grid too small for
    the room's blur the lift is not bound by the room (as the headroom pedestal's is not)."""
    total = fused + correction
    bright = torch.maximum(torch.maximum(fused, a), b)
    cells, share, body, amount = cell_statistics(torch.minimum(-correction, -total), bright)
    lift = torch.zeros_like(cells)
    for rho, plateau in zip(REACHES, gated_plateaus(cells, share, body, amount, REACHES)):
        lift = torch.maximum(lift, blurred_plateau(plateau, rho))
    return torch.minimum(lift, room_over(bright - total))


def floor_lift(field: torch.Tensor, fused: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
    """The lift to add to ``fused + correction`` (N, 1, H, W; 0..1 units, before the clip) from its
    :func:`floor_field` (N, 1, h, w): upsampled to the image, and inside the finding at most the deficit there
    (module doc); same shape as ``fused``, >= 0."""
    total = fused + correction
    lift = upsampled(field, fused.shape[-2:])
    inside = torch.maximum((-total * (1.0 / CUT_FULL)).clamp(0.0, 1.0),
                           (-correction * (1.0 / CORE_ADDITION)).clamp(0.0, 1.0))
    return torch.lerp(lift, torch.minimum(lift, (-total).clamp_min(0.0)), inside)

