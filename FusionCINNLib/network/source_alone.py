"""Source alone: where the MRI shows nothing, the fused image is the other source.

Where the MRI (B) is air over a whole neighbourhood (beyond its field of view inside its grid, beyond the head,
in thick cortical bone) there is nothing of it to fuse, and a network fusion there is the CT's, PET's or SPECT's
image A re-synthesised from a latent that averaged it with an empty one: the shipped PET/SPECT model fused a PET
beyond a straight edge of the MRI at 0.40 of its value, and a model trained harder on the findings at a quarter
(docs/findings.md, eighteenth and nineteenth rounds), so a PET finding there would be dimmed or hidden.
This stage hands those pixels to A:

    p0 = ramp(box_k(B); LOW -> HIGH)    0 where the MRI's k x k box mean is under LOW, 1 over HIGH (k = BOX)
    p = box_r(max_r(p0))               the MRI's presence: p0 widened by r/2 px (r = RAMP), then blurred by the same
                                       box, so the fused image passes from the network's to A over r px of the
                                       MRI's air, not at a step, and p is 1 wherever p0 is
    F' = p F + (1 - p) A
    T' = p T                           the finding transfer's correction (and its weight in the headroom pedestal's
                                       finish), which at its coarse levels spread F's difference from A beyond the
                                       MRI's edge into the region where F' is A (-0.04 to -0.11 on the colour
                                       test's volume)

Over a box mean of the MRI, not its pixels: an MRI's noise in air averages under LOW, and a dark structure narrower
than ``BOX`` px (the skull's tables, a dark lesion) keeps some of its tissue in the box, so p stays 1 over it. The
passage lies in the MRI's air, so a dark lesion at the head's edge stays the network's (a passage blurred into the
head took one from 0.84 to 0.76 of its contrast: docs/findings.md, nineteenth round). Only A is handed pixels: where
A (a PET, a SPECT) is low and the MRI shows anatomy, the network's fusion stays, so a PET's cold region is never
replaced by the MRI's tissue. The stage has no weights and is differentiable (the network is trained through it).
"""

from __future__ import annotations

import torch

from .box_filters import box_max, box_mean
from .cell_grid import ramp

BOX = 7
"""Side (pixels) of the box over which the MRI's mean intensity is its presence."""

RAMP = 5
"""Side (pixels) of the box by which the presence is widened into the MRI's air and then blurred: the width of the
passage from the network's fusion to A."""

LOW = 0.02
"""Box mean of the MRI (0..1) under which it is air: the fused image is A."""

HIGH = 0.05
"""Box mean of the MRI (0..1) over which it shows anatomy: the fused image is the network's."""


def source_presence(x: torch.Tensor) -> torch.Tensor:
    """A source's presence p in [0, 1] of (N, 1, H, W) slices x in [0, 1] (the MRI's here; the finding transfer
    takes A's: network.finding_transfer): a ramp of its ``BOX`` x ``BOX`` mean from ``LOW`` (0) to ``HIGH`` (1),
    widened by a ``RAMP`` x ``RAMP`` maximum and blurred by that box; same shape."""
    shows = ramp(box_mean(x, BOX), LOW, HIGH)
    return box_mean(box_max(shows, RAMP), RAMP)


def keep_source_alone(fused: torch.Tensor, a: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """p fused + (1 - p) a, p = ``presence`` (:func:`source_presence`); all (N, 1, H, W) in [0, 1], same shape out."""
    return fused + (1.0 - presence) * (a - fused)
