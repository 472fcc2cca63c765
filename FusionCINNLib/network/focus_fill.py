"""A's bright finding shown filled: the MRI's dark detail inside it lifted to the finding's level.

The finding transfer puts A's finding (a PET or SPECT focus, a CT calcification) on top of the fused image's own
structure, and where the MRI shows dark detail under it (a sulcus, a vessel, CSF a few pixels wide) the fused focus
shows as a ring or as a dark-centred spot: a reader sees a ring-enhancing lesion, or the focus with the wrong sign
(its core darker than its surroundings), where A shows it filled. After the clip:

    C(x)    = the closing of x over a ``FILL_SIDE`` x ``FILL_SIDE`` px square (its maximum, then its minimum): x with
              its dark detail narrower than the square filled from around
    k       = C(A) - A                                  A's own dark detail at that scale, so that a ring A shows
              stays a ring; 1 (no fill) where A does not stand over ``FOCUS_HEIGHT`` over its mean within the head
              over a 15 px square (H_A, network.mri_detail)
    g       = ramp(T; 0.05 -> 0.15)                     T the transfer's correction: where A's finding is put back
    out'    = out + m g max(C(out) - out - k, 0)        m the transfer's weight (background mask, MRI's presence)

out' <= C(out) <= 1, so the result stays in 0..1. A 5 px square fills detail up to 4 px across inside a focus: the
MRI's dark lesions (radius 3 px and more) are wider, and a 7 or 9 px square took more of them
(docs/findings.md, forty-ninth round). No trained parameters; about 2 ms a 256x256 slice at one thread (docs/speed.md).
"""

from __future__ import annotations

import torch

from .box_filters import box_max
from .cell_grid import ramp
from .masks import over
from .mri_detail import height_over_local_mean

FILL_SIDE = 5
"""The side (px) of the square the fused image's dark detail inside A's finding is filled over (odd)."""
FOCUS_REACH = 7
"""Half the side (px) of the square A's height over its local mean is read over (15 px)."""
FOCUS_HEIGHT = 0.08
"""How far (0..1 units) A must stand over its local mean for the fused image to be filled there."""
ADDITION = (0.05, 0.15)
"""The transfer's addition (0..1 units) at which the fill starts, and at which it is whole."""


def closing(x: torch.Tensor, side: int = FILL_SIDE) -> torch.Tensor:
    """The grey-scale closing of (N, 1, H, W) images over an odd ``side`` x ``side`` square: the maximum, then the
    minimum; same shape, >= x."""
    return -box_max(-box_max(x, side), side)


def kept_hole(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """k (module doc): how far under its closing the fused image may stay, from A ``a`` and the MRI ``b`` (N, 1, H, W;
    0..1): A's own dark detail where A stands over ``FOCUS_HEIGHT`` over its local mean, else 1; same shape."""
    focus = over(height_over_local_mean(a, b, FOCUS_REACH), FOCUS_HEIGHT)
    return closing(a) - a + 1.0 - focus


def focus_filled(fused: torch.Tensor, correction: torch.Tensor, hole: torch.Tensor, weight: torch.Tensor
                 ) -> torch.Tensor:
    """out' (module doc): the final ``fused`` image (N, 1, H, W; 0..1, after the clip) with its dark detail filled
    inside A's finding, where the transfer's ``correction`` adds it, by at most its depth under the closing less
    :func:`kept_hole`'s ``hole``, times the transfer's ``weight``; same shape, 0..1."""
    return fused + weight * ramp(correction, *ADDITION) * (closing(fused) - fused - hole).clamp_min(0.0)
