"""The MRI's bright detail put back (network/mri_restore.py): where the MRI stands well over its local mean and A is
quiet around, the MRI's detail that the fused image lacks is added back; never where A shows something nearby, never
as a darkening."""

import numpy as np
import torch

from FusionCINNLib.metrics.findings import Finding, insert_finding, score_finding
from FusionCINNLib.network import fusion_net
from FusionCINNLib.network.fusion_net import finish
from FusionCINNLib.network.model_files import default_model_path, load_model
from FusionCINNLib.network.mri_detail import height_on_cells, height_over_local_mean
from FusionCINNLib.network.mri_restore import bright_detail_restored
from test_headroom import SIZE, tensor
from test_mri_detail import head

LESION = Finding((64, 64), 5.0, "added", 0.3)


def addition(lesion: float, a: np.ndarray) -> torch.Tensor:
    """What bright_detail_restored adds to a zero correction where the fused image carries half of an MRI lesion
    (+``lesion`` on 0.35, r 5) that the MRI shows whole, given A's slice ``a``."""
    b = insert_finding(head(0.35), Finding((64, 64), 5.0, "added", lesion))
    fused = insert_finding(head(0.35), Finding((64, 64), 5.0, "added", lesion / 2))
    b_tensor = tensor(b)
    zero = torch.zeros_like(b_tensor)
    return bright_detail_restored(zero, tensor(fused), b_tensor, height_over_local_mean(b_tensor),
                                  height_on_cells(tensor(a), b_tensor))[0, 0]


def test_the_mri_s_bright_detail_is_put_back_only_where_it_stands_out_and_a_is_quiet_around():
    quiet = addition(0.3, head(0.5))
    assert 0.05 < quiet[64, 64] < 0.2, quiet[64, 64]  # the half of the lesion's 0.3 the fused image lacks, about
    assert quiet.min() >= 0.0  # only adds
    assert addition(0.1, head(0.5)).abs().max() == 0.0  # the MRI 0.1 over its mean: its anatomy, not put back
    focus_beside = insert_finding(head(0.5), Finding((64, 70), 3.0, "scaled", 2.0))  # A's hot focus 6 px away
    assert addition(0.3, focus_beside)[58:71, 62:71].abs().max() == 0.0  # the lesion's core and its side toward it


def mri_lesion_on_a_flat_pet(restored: bool, monkeypatch) -> float:
    """The imprint of an MRI bright lesion (+0.3 on 0.35 with a faint texture, r 5) on a flat PET, fused by the shipped
    PET model with or without the MRI's bright detail put back."""
    if not restored:
        monkeypatch.setattr(fusion_net, "bright_detail_restored", lambda correction, *_: correction)
    net = load_model(default_model_path("pet-mri")).net.eval()
    b = head(0.35) - head(1.0) * 0.05 * np.sin(np.indices((SIZE, SIZE))[1] / 4.0).astype(np.float32)
    b_with = insert_finding(b, LESION)
    a = head(0.5)
    with torch.no_grad():
        fused_with, fused_without = (finish(net.transfer_parts(tensor(a), tensor(y)))[0, 0].numpy()
                                     for y in (b_with, b))
    return score_finding((b_with, b), (fused_with, fused_without), LESION).imprint


def test_an_mri_bright_lesion_on_a_quiet_pet_keeps_its_contrast(monkeypatch):
    """The shipped PET model keeps 0.68 of this lesion (the network halves what one source alone shows); with its
    bright detail put back, 0.92."""
    assert mri_lesion_on_a_flat_pet(True, monkeypatch) > 0.85
    assert mri_lesion_on_a_flat_pet(False, monkeypatch) < 0.75
