"""The MRI's bright detail put back: where the MRI stands well over its local mean and A (CT/PET/SPECT) shows nothing
within a few pixels, the MRI's detail that the fused image lacks is added back.

    R       = finding transfer of B onto F + T           (network.finding_transfer with the MRI B as its source, at
                                                      levels 1 to ``RESTORE_LEVELS`` - 1 (2-8 px detail), no level
                                                      bounded: B's salient local structure that F + T lacks)
    q       = 1 - max over 7x7 cells of ramp(|H_A|; 0.1 -> 0.2)
                                                      A is quiet: no 2x2 px cell of A within 6-7 px stands 0.1 or more
                                                      over or under A's own mean (H_A: A's height over its mean within
                                                      the head over 15 cells, 30 px, as network.mri_detail reads it
                                                      for an opposite finding)
    T'      = T + ramp(H_B; 0.15 -> 0.25) q max(R, 0)   (H_B: the MRI's height over its 31 px mean, network.mri_detail)

An MRI bright lesion that only the MRI shows stands 0.2-0.6 over its local mean. The network keeps 0.92-1.00 of it,
and the transfer then takes up to 0.07 more where A's anatomy runs against it (a CT darker in cortex under the lesion
reads as F's structure of the opposite sign, and the least carried measure -1 takes it down by twice A's): the MRI
bright lesions kept a median 0.94 of their contrast, the Laplacian pyramid 0.97 (docs/findings.md, forty-first round).
Only the brightening is put back, and only where A is quiet around: where A shows a finding, F's structure along B
there is A's finding, and the MRI's detail put back over it (or its dark spot under a calcification) took the finding
(the same round: the MRI's darkening put back too took 0.5-0.7 of the phantom's CT calcifications at the edge).

No trained parameters; about 3 ms a 256x256 slice (a two-level transfer from the once-reduced image, A's height on
cells, a box maximum): 7 % of the whole fusion by thread time.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .box_filters import box_max
from .cell_grid import ramp
from .finding_transfer import finding_correction

RESTORE_LEVELS = 3
"""Pyramid levels read for the MRI's detail; the finest (1-2 px) is not put back."""
RESTORE_HEIGHT = (0.15, 0.25)
"""How far over its local mean (0..1 units) the MRI must stand for its detail to be put back: at all, fully."""
QUIET_HEIGHT = (0.1, 0.2)
"""How far A may stand over or under its own local mean (0..1 units) for A to be quiet there: fully, not at all."""
QUIET_CELLS = 7
"""Side (2x2 px cells) of the square over which A must be quiet for the MRI's detail to be put back at its centre."""


def bright_detail_restored(correction: torch.Tensor, fused: torch.Tensor, b: torch.Tensor, height: torch.Tensor,
                           height_a: torch.Tensor, presence: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The transfer's ``correction`` T plus the MRI ``b``'s bright detail that ``fused`` + T lacks, where the MRI's
    ``height`` over its local mean (network.mri_detail) stands over ``RESTORE_HEIGHT`` and A is quiet around by its
    ``height_a`` on 2x2 px cells (network.mri_detail.height_on_cells; module doc). All (N, 1, H, W), H and W even,
    0..1 units; ``presence``: the MRI's presence (network.source_alone) where already at hand. Only adds: the result
    is never under ``correction``."""
    restore = finding_correction(fused + correction, b, RESTORE_LEVELS, bounded=0, first=1, presence=presence)
    loud = F.interpolate(box_max(ramp(height_a.abs(), *QUIET_HEIGHT), QUIET_CELLS), scale_factor=2.0, mode="nearest")
    return correction + ramp(height, *RESTORE_HEIGHT) * (1.0 - loud) * restore.clamp_min(0.0)
