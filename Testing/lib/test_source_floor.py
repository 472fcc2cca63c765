"""The source floor (network/source_floor.py): where the MRI is dark, the fused image is not darker than both
sources."""

import pytest
import torch

from conftest import TINY
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.network import FusionNet, ModelConfig
from FusionCINNLib.network.source_floor import HIGH, LOW, floor_at_darker_source


def dark_mri_under_a_dim_pet(size: int = 64):
    """A dim PET (A, 0.15) over an MRI (B) with a dark band (0.1) in bright tissue (0.6), the band a ventricle,
    with a hot PET focus (0.4) at its edge, and an MRI dark lesion (0.3) in the bright tissue under a PET of 0.5."""
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    a = torch.full((1, 1, size, size), 0.15)
    b = torch.full((1, 1, size, size), 0.6)
    b[..., :, 20:28] = 0.1
    a[0, 0][(rows - 32) ** 2 + (cols - 21) ** 2 <= 4] = 0.4
    a[..., 40:56, 40:56] = 0.5
    b[0, 0][(rows - 48) ** 2 + (cols - 48) ** 2 <= 9] = 0.3
    return a, b


def test_where_the_mri_is_dark_the_floor_is_the_darker_source_and_over_its_tissue_there_is_none():
    a, b = dark_mri_under_a_dim_pet()
    fused = torch.full_like(a, -0.1, requires_grad=True)  # a network that follows the MRI's darkness below both
    floored = floor_at_darker_source(fused, a, b)
    band = (slice(None), slice(None), slice(None), slice(20, 28))
    torch.testing.assert_close(floored[band], torch.minimum(a, b)[band])  # at most the MRI's own value there
    assert floored[0, 0, 32, 21] == 0.1  # the focus over the ventricle does not lift it: the transfer shows it
    tissue = b > HIGH
    assert torch.all(floored[tissue] == 0)  # over the MRI's tissue the network's tone, not under black ...
    assert floored[0, 0, 48, 48] == 0  # ... and over an MRI dark lesion in it
    assert torch.equal(floor_at_darker_source(fused + 0.2, a, b)[tissue], fused[tissue] + 0.2)
    ramp = floor_at_darker_source(fused, a, torch.full_like(b, (LOW + HIGH) / 2))
    torch.testing.assert_close(ramp, torch.maximum(fused, 0.5 * torch.minimum(a, torch.full_like(b, (LOW + HIGH) / 2))))
    floored.sum().backward()
    assert torch.all(fused.grad == 0)  # no gradient where the floor holds
    bright = torch.full_like(a, 0.7)
    assert torch.equal(floor_at_darker_source(bright, a, b), bright)  # over it, the network's fusion unchanged
    assert 0 < LOW < HIGH < 0.5


def network_under_both(config: ModelConfig, b: torch.Tensor) -> FusionNet:
    """A FusionNet whose inverse pass gives the MRI less 0.5: it follows the MRI's darkness below both sources, as
    the trained networks do over dark MRI tissue (-0.1 to 0 where the MRI is 0.1 and the PET 0.15)."""
    net = FusionNet(config).eval()
    net.decode = lambda z, coeffs: b - 0.5
    return net


def test_the_floor_in_the_network_holds_before_the_transfer_and_its_config():
    a, b = dark_mri_under_a_dim_pet()
    with torch.no_grad():
        without = network_under_both(ModelConfig(hidden=TINY.hidden), b)(a, b).fused
        with_floor = network_under_both(ModelConfig(hidden=TINY.hidden, source_floor=True), b)(a, b).fused
    assert bool((without < torch.minimum(a, b) - 0.04).all())
    dark, tissue = b < LOW, b > HIGH
    torch.testing.assert_close(with_floor[dark], torch.minimum(a, b)[dark])
    torch.testing.assert_close(with_floor[tissue], without[tissue].clamp_min(0.0))
    assert ModelConfig.from_dict(ModelConfig(source_floor=True).to_dict()).source_floor
    assert not ModelConfig.from_dict({"finding_levels": 5, "source_alone": True}).source_floor  # older model files
    for bad in (1, "yes", None):
        with pytest.raises(FusionInputError, match="source_floor"):
            ModelConfig(source_floor=bad)


def test_with_the_transfer_a_focus_over_a_dark_mri_is_not_cut_at_black():
    a, b = dark_mri_under_a_dim_pet()
    a0 = a.clone()
    a0[..., 28:37, 17:26] = 0.15  # the same pair without the focus
    core = (slice(None), slice(None), slice(31, 34), slice(20, 23))
    imprint = {}
    for floor in (False, True):
        net = network_under_both(ModelConfig(hidden=TINY.hidden, finding_levels=5, source_floor=floor), b)
        with torch.no_grad():
            imprint[floor] = float((net(a, b).fused - net(a0, b).fused)[core].mean())
    source = float((a - a0)[core].mean())
    assert imprint[True] >= 0.8 * source
    assert imprint[False] < 0.6 * source  # without the floor the focus is put back under black, and clipped
