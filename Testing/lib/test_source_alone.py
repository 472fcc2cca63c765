"""The source-alone stage (network/source_alone.py): where the MRI is air, the fused image is the other source."""

import pytest
import torch

from conftest import TINY
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.network import FusionNet, ModelConfig
from FusionCINNLib.network.box_filters import box_mean
from FusionCINNLib.network.source_alone import BOX, HIGH, LOW, RAMP, keep_source_alone, source_presence


def pet_beyond_the_mri(size: int = 64, edge: int = 24):
    """A PET (A) with a hot focus on both sides of a straight edge of the MRI (B), which is air left of ``edge``."""
    torch.manual_seed(0)
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    a = 0.3 + 0.1 * torch.rand(1, 1, size, size)
    for centre in (8, 48):
        a[0, 0][(rows - 32) ** 2 + (cols - centre) ** 2 <= 16] = 0.9
    b = (0.4 + 0.3 * torch.rand(1, 1, size, size)) * (cols >= edge)
    return a, b


SHOWS = 24 - BOX // 2
"""pet_beyond_the_mri's first column where the MRI's presence is 1"""
AIR = SHOWS - 2 * (RAMP // 2)
"""... and its first where it is not 0"""


def test_the_mris_presence_is_0_over_air_1_over_tissue_and_ramps_across_its_edge():
    a, b = pet_beyond_the_mri()
    presence = source_presence(b)
    assert presence.shape == b.shape
    # the MRI's box mean is over HIGH from half a box left of its edge (SHOWS), and the ramp lies left of that
    assert torch.all(presence[..., :AIR] == 0) and torch.all(presence[..., SHOWS:] == 1)
    ramp = presence[0, 0, 32, AIR - 1:SHOWS + 1]
    assert torch.all(ramp[1:] > ramp[:-1]) and torch.all(ramp[1:] - ramp[:-1] < 1.5 / RAMP)  # no step
    noise = torch.full((1, 1, 32, 32), LOW * 0.5)  # an MRI's noise in air, on average under LOW ...
    noise[..., 2::4, 2::4] = LOW * 3.0  # ... with single pixels over HIGH: not tissue
    assert torch.all(source_presence(noise) == 0)
    skull = torch.full((1, 1, 32, 32), 0.5)
    skull[..., 12:18, :] = 0.0  # a 6 px dark band in tissue (the skull's tables in a T1 MRI): within the box
    assert torch.all(source_presence(skull) == 1)
    assert 0 < LOW < HIGH < 0.1


def test_the_mri_is_present_wherever_its_box_mean_shows_anatomy():
    torch.manual_seed(1)
    b = torch.nn.functional.avg_pool2d(torch.rand(4, 1, 80, 80), 11, 1, 5) * (torch.rand(4, 1, 80, 80) > 0.3)
    b = b * (torch.rand(4, 1, 1, 1) * 0.3)  # dim heads, so that much of them is near LOW and HIGH
    present = box_mean(b, BOX) >= HIGH
    assert 0.2 < present.float().mean() < 0.9
    assert torch.all(source_presence(b)[present] == 1)  # a dark lesion at the head's edge stays the network's


def test_where_the_mri_is_air_the_fused_image_is_the_other_source_and_elsewhere_the_networks():
    a, b = pet_beyond_the_mri()
    fused = torch.full_like(a, 0.2, requires_grad=True)
    kept = keep_source_alone(fused, a, source_presence(b))
    assert torch.equal(kept[..., :AIR], a[..., :AIR])  # the PET, its focus beyond the MRI at full value
    assert torch.equal(kept[..., SHOWS:], fused[..., SHOWS:])
    kept.sum().backward()
    assert torch.all(fused.grad[..., :AIR] == 0) and torch.all(fused.grad[..., SHOWS:] == 1)


def test_a_pet_cold_region_over_the_mris_tissue_stays_the_networks():
    a, b = pet_beyond_the_mri()
    a[..., 20:44, 30:54] = 0.0  # no uptake at all over the MRI's tissue: not handed to the MRI, nor to the PET
    fused = torch.full_like(a, 0.2)
    assert torch.equal(keep_source_alone(fused, a, source_presence(b))[..., 20:44, 30:54], fused[..., 20:44, 30:54])


def test_source_alone_in_the_network_and_its_config():
    a, b = pet_beyond_the_mri()
    net = FusionNet(ModelConfig(hidden=TINY.hidden, source_alone=True)).eval()
    plain = FusionNet(ModelConfig(hidden=TINY.hidden)).eval()
    plain.load_state_dict(net.state_dict())  # no weights of its own
    with torch.no_grad():
        alone, without = net(a, b).fused, plain(a, b).fused
    torch.testing.assert_close(alone[..., :AIR], a[..., :AIR])
    assert without[..., 30:34, 6:10].mean() < 0.7 * a[..., 30:34, 6:10].mean()  # the untrained network halves it
    torch.testing.assert_close(alone[..., SHOWS:], without[..., SHOWS:])
    transfer = FusionNet(ModelConfig(hidden=TINY.hidden, source_alone=True, finding_levels=5)).eval()
    transfer.load_state_dict(net.state_dict())
    with torch.no_grad():  # the transfer's coarse levels would spread the network's difference from A beyond the edge
        torch.testing.assert_close(transfer(a, b).fused[..., :AIR], a[..., :AIR])
    assert ModelConfig.from_dict(ModelConfig(source_alone=True).to_dict()).source_alone
    assert not ModelConfig.from_dict({"finding_levels": 5}).source_alone  # model files made before it
    for bad in (1, "yes", None):
        with pytest.raises(FusionInputError, match="source_alone"):
            ModelConfig(source_alone=bad)
