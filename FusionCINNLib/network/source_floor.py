"""Source floor: where the MRI is dark, the fused image is not darker than both sources.

Where the MRI (B) is dark and the PET, SPECT or CT (A) dim (the phantom's ventricles and the CSF around its brain:
MRI 0.05-0.15, PET 0.10-0.20), the network follows the MRI's darkness below both: v5's inverse pass gives -0.1 to 0
there, and a network trained on the lesions' imprint lower still. The finding transfer then puts a finding of A
back on top of that, and the final clip at 0 takes what lies under black: the phantom's small PET focus at a
ventricle's edge kept 0.86 of its contrast with v5 and 0.42 with an imprint-trained model
(docs/findings.md, twentieth round). So, after the refinement and the source-alone stage and before the transfer,

    d  = ramp(B; HIGH -> LOW)     0 where the MRI's pixel is over HIGH, 1 under LOW
    F' = max(F, d min(A, B))

per pixel. Where the MRI is dark the floor is at most the MRI's own value, so an MRI structure darker still (a
lesion in dark tissue) keeps the MRI's darkness, and at most A's, so a PET cold region is not filled. Over the
MRI's tissue (over HIGH) the floor is 0: the fused image's tone is the network's, not either source's (it shows
an MRI dark lesion in white matter darker than the lesion's own value, and a floor at min(A, B) there cost four
MRI dark lesions their contrast, 0.98 to 0.78), only not under black, where the final clip would take what the
transfer adds. Where the MRI is air min(A, B) is about 0 and the floor does nothing (the source-alone stage
hands those pixels to A). No weights; gradients pass where the network's fusion is over the floor.
"""

from __future__ import annotations

import torch

from .cell_grid import ramp

HIGH = 0.25
"""MRI value (0..1) over which there is no floor."""

LOW = 0.15
"""MRI value (0..1) under which the floor is the darker source, min(A, B)."""


def floor_at_darker_source(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(fused, d min(a, b)), d = ramp(b; ``HIGH`` -> ``LOW``), of (N, 1, H, W) images in 0..1 units (``fused``
    may lie outside [0, 1]); same shape."""
    return torch.maximum(fused, ramp(b, HIGH, LOW) * torch.minimum(a, b))
