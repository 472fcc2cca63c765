"""The MRI's own bright detail (network/mri_detail.py): its height over its local mean within the head, and the
finding transfer's darkening spared where the MRI stands out or shows a stronger finding of the opposite sign."""

import dataclasses

import numpy as np
import pytest
import torch

from FusionCINNLib.metrics.findings import Finding, distance_map, insert_finding, score_finding
from FusionCINNLib.network.fusion_net import finish
from FusionCINNLib.network.model_files import default_model_path, load_model
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.network.config import ModelConfig
from FusionCINNLib.network.cell_grid import halved
from FusionCINNLib.network.mri_detail import (SPARE_FLOOR, SPARE_RAMP, darkening_spared, height_on_cells,
                                              height_over_local_mean, opposite_finding)
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


def mri_lesion_over_a_cold_pet_region(lesion: float, net: torch.nn.Module):
    """The score of an MRI bright lesion (+``lesion`` on 0.35 with a faint texture, r 5) over a cold region of the PET
    (x0.6 on 0.5, the same ball), fused by ``net`` (a FusionNet) and scored against the MRI."""
    b = head(0.35) + head(1.0) * 0.05 * np.sin(np.indices((SIZE, SIZE))[1] / 5.0).astype(np.float32)
    a = head(0.5)
    finding = Finding((64, 64), 5.0, "added", lesion)
    b_with = insert_finding(b, finding)
    a_with = insert_finding(a, Finding((64, 64), 5.0, "scaled", 0.6))
    with torch.no_grad():
        fused_with, fused_without = (finish(net.transfer_parts(tensor(x), tensor(y)))[0, 0].numpy()
                                     for x, y in ((a_with, b_with), (a, b)))
    return score_finding((b_with, b), (fused_with, fused_without), finding)


def test_an_mri_lesion_that_stands_out_keeps_its_sign_over_a_weaker_cold_region_of_a():
    """An MRI bright lesion (+0.5 on 0.35, standing about 0.45 over its 31 px mean) on a cold region of the PET (x0.6,
    -0.2): the MRI's is the stronger finding, and a grey image can show one sign. The transfer took the fused image's
    structure along A's for A's: without the spare the lesion's imprint was -0.09 (the PET's sign), with it 0.46."""
    score = mri_lesion_over_a_cold_pet_region(0.5, load_model(default_model_path("pet-mri")).net.eval())
    assert score.imprint > 0.3 and score.kept > 0.3, score


def opposite_case(mri_lesion: float, a_factor: float, a_centre=(64, 64)):
    """A head with a region of A scaled by ``a_factor`` (on 0.5, r 5 at ``a_centre``), the MRI with a lesion
    (+``mri_lesion`` on 0.4, r 5 at the centre), and their heights over their local means (A's on cells):
    opposite_finding's inputs."""
    b = tensor(insert_finding(head(0.4), Finding((64, 64), 5.0, "added", mri_lesion)))
    a = tensor(insert_finding(head(0.5), Finding(a_centre, 5.0, "scaled", a_factor)))
    return height_on_cells(a, b), height_over_local_mean(b)


def test_an_opposite_finding_is_read_where_the_mri_mirrors_a_more_strongly_and_only_there():
    assert opposite_finding(*opposite_case(0.2, 0.7))[0, 0, 64, 64] == 1.0  # the MRI's 0.2 over, A's 0.15 under
    assert opposite_finding(*opposite_case(0.2, 0.4))[0, 0, 64, 64] == 0.0  # A's region the stronger (0.3 under)
    assert opposite_finding(*opposite_case(0.0, 0.7))[0, 0, 64, 64] == 0.0  # A's region alone
    apart = opposite_finding(*opposite_case(0.2, 0.7, a_centre=(64, 94)))
    assert apart[0, 0, 64, 64] == 0.0 and apart[0, 0, 64, 94] == 0.0  # the two findings 30 px apart
    b = tensor(insert_finding(head(0.4), Finding((64, 64), 5.0, "added", 0.2)))
    assert opposite_finding(height_on_cells(b, b), height_over_local_mean(b)).max() == 0.0  # the same, not its mirror
    assert opposite_finding(*opposite_case(-0.2, 1.3))[0, 0, 64, 64] == 0.0  # a dark MRI lesion on a hot focus


def test_an_opposite_finding_spares_the_darkening_as_the_mri_standing_out_does_and_never_the_additions():
    height = torch.full((1, 1, SIZE, SIZE), 0.1)
    correction = torch.where(torch.arange(SIZE)[:, None] < SIZE // 2, -0.2, 0.2).expand(1, 1, SIZE, SIZE)
    opposite = torch.linspace(0.0, 1.0, SIZE).expand(1, 1, SIZE, SIZE)
    spared = darkening_spared(correction, height, opposite)
    darkening = correction < 0
    assert torch.equal(darkening_spared(correction, height), correction)  # under the floor
    assert torch.allclose(spared[darkening], (correction * (1.0 - opposite))[darkening])
    assert torch.equal(spared[~darkening], correction[~darkening])


def test_a_stronger_mri_lesion_that_does_not_stand_out_that_far_keeps_its_sign_over_a_cold_region_of_a():
    """An MRI bright lesion (+0.3 on 0.35, standing 0.29 over its 31 px mean: under ``SPARE_FLOOR``) on a cold region
    of the PET (x0.6, 0.18 under its own mean): the MRI's is the stronger finding. The shipped PET model reads the
    opposite finding (config.finding_opposite): imprint 0.29; without it the transfer put the PET's sign over the
    lesion, -0.29 (before the MRI's bright detail was put back, network.mri_restore: 0.18 and -0.48)."""
    net = load_model(default_model_path("pet-mri")).net.eval()
    assert net.config.finding_opposite
    imprints = []
    for config in (net.config, dataclasses.replace(net.config, finding_opposite=False)):
        net.config = config
        imprints.append(mri_lesion_over_a_cold_pet_region(0.3, net).imprint)
    assert imprints[0] > 0.1 and imprints[1] < -0.2, imprints


def test_finding_opposite_in_the_config():
    assert ModelConfig.from_dict(ModelConfig(finding_opposite=True).to_dict()).finding_opposite
    assert not ModelConfig.from_dict({"finding_levels": 5}).finding_opposite  # older model files
    assert not load_model(default_model_path("ct-mri")).net.config.finding_opposite
    for bad in (1, "yes", None):
        with pytest.raises(FusionInputError, match="finding_opposite"):
            ModelConfig(finding_opposite=bad)


def test_halved_is_avg_pool2d_bit_for_bit():
    x = torch.rand(3, 2, 64, 96) * torch.rand(3, 2, 64, 96)
    assert torch.equal(halved(x), torch.nn.functional.avg_pool2d(x, 2))
