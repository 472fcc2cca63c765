"""The MRI's own bright detail (network/mri_detail.py): its height over its local mean within the head, and the
finding transfer's darkening spared where the MRI stands out."""

import numpy as np
import torch

from FusionCINNLib.metrics.findings import Finding, distance_map, insert_finding, score_finding
from FusionCINNLib.network.fusion_net import finish
from FusionCINNLib.network.model_files import default_model_path, load_model
from FusionCINNLib.network.mri_detail import SPARE_FLOOR, SPARE_RAMP, darkening_spared, height_over_local_mean
from test_headroom import SIZE, tensor


def head(level: float) -> np.ndarray:
    """A head of radius 50 px at ``level`` on air."""
    return (distance_map((SIZE, SIZE), (64, 64)) <= 50).astype(np.float32) * np.float32(level)


def test_the_mri_s_height_is_read_within_the_head_not_against_the_air_beyond_it():
    b = head(0.5)
    lesion = Finding((64, 64), 5.0, "added", 0.4)
    height = height_over_local_mean(tensor(insert_finding(b, lesion)))[0, 0].numpy()
    edge = (distance_map((SIZE, SIZE), (64, 64)) > 49) & (b > 0)
    assert np.abs(height[edge]).max() < 0.01, np.abs(height[edge]).max()  # counting the air: up to 0.3
    assert 0.3 < height[64, 64] < 0.4, height[64, 64]  # the lesion's 0.4 less its own share of the mean


def test_the_transfer_s_darkening_is_spared_only_where_the_mri_stands_out_and_its_additions_never():
    height = torch.linspace(0.0, 0.6, SIZE).expand(1, 1, SIZE, SIZE)
    correction = torch.where(torch.arange(SIZE)[:, None] < SIZE // 2, -0.2, 0.2).expand(1, 1, SIZE, SIZE)
    spared = darkening_spared(correction, height)
    low, high = height < SPARE_FLOOR, height >= SPARE_FLOOR + SPARE_RAMP
    darkening = correction < 0
    assert torch.equal(spared[low], correction[low])
    assert spared[high & darkening].abs().max() == 0.0
    assert torch.equal(spared[~darkening], correction[~darkening])
    between = ~low & ~high & darkening
    assert (spared[between] > correction[between]).all() and (spared[between] < 0).all()


def test_an_mri_lesion_that_stands_out_keeps_its_sign_over_a_weaker_cold_region_of_a():
    """An MRI bright lesion (+0.5 on 0.35, standing about 0.45 over its 31 px mean) on a cold region of the PET (x0.6,
    -0.2): the MRI's is the stronger finding, and a grey image can show one sign. The transfer took the fused image's
    structure along A's for A's: without the spare the lesion's imprint was -0.09 (the PET's sign), with it 0.46."""
    b = head(0.35) + head(1.0) * 0.05 * np.sin(np.indices((SIZE, SIZE))[1] / 5.0).astype(np.float32)
    a = head(0.5)
    lesion = Finding((64, 64), 5.0, "added", 0.5)
    b_with = insert_finding(b, lesion)
    a_with = insert_finding(a, Finding((64, 64), 5.0, "scaled", 0.6))
    net = load_model(default_model_path("pet-mri")).net.eval()
    with torch.no_grad():
        fused_with, fused_without = (finish(net.transfer_parts(tensor(x), tensor(y)))[0, 0].numpy()
                                     for x, y in ((a_with, b_with), (a, b)))
    score = score_finding((b_with, b), (fused_with, fused_without), lesion)
    assert score.imprint > 0.3 and score.kept > 0.3, score
