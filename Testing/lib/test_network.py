from dataclasses import replace

import FrEIA.modules as Fm
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import TINY, perturb
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.fusion.slices import fuse_batch
from FusionCINNLib.network import PAPER_CONFIG, FusionNet, ModelConfig
from FusionCINNLib.network.cinn import IndexPermute, count_trainable_parameters
from FusionCINNLib.network.box_filters import box_max, box_mean


@pytest.mark.parametrize("size", [(128, 128), (256, 256), (257, 311), (512, 512)])
def test_default_network_is_invertible(size):
    torch.manual_seed(0)
    net = perturb(FusionNet(ModelConfig()), scale=0.02).eval()
    h, w = size
    pad_h, pad_w = (-h) % 32, (-w) % 32
    x = torch.nn.functional.pad(torch.rand(1, 1, h, w), (0, pad_w, 0, pad_h), mode="reflect")
    c = net.conditions(torch.rand_like(x))
    with torch.no_grad():
        z, log_det = net.encode(x, c)
        back = net.decode(z, c)
    assert (back - x).abs().max().item() < 1e-4
    assert torch.isfinite(log_det).all()
    assert (z - net.encode(x, c)[0]).abs().max() == 0  # decode did not modify z in place


def test_paper_variant_is_invertible_at_its_size():
    torch.manual_seed(0)
    net = perturb(FusionNet(PAPER_CONFIG), scale=0.01).eval()
    x = torch.rand(2, 1, 128, 128)
    c = net.conditions(torch.rand_like(x))
    with torch.no_grad():
        back = net.decode(net.encode(x, c)[0], c)
    assert (back - x).abs().max().item() < 1e-4
    assert count_trainable_parameters(net) > 10 * count_trainable_parameters(FusionNet(ModelConfig()))


def test_untrained_fusion_is_the_average():
    """Zero-initialised couplings and RAM make f linear in x, so f^-1(mean of latents) = mean image."""
    net = FusionNet(ModelConfig()).eval()
    a = torch.rand(1, 1, 64, 64) * 0.5 + 0.5
    b = torch.rand(1, 1, 64, 64) * 0.5 + 0.5
    with torch.no_grad():
        fused = net(a, b).fused
    assert (fused - (a + b) / 2).abs().max().item() < 1e-5


@pytest.mark.parametrize("shape", [(64, 64), (100, 77), (257, 311)])
def test_any_size_fuses_without_seams(shape, tiny_model):
    a = torch.rand(2, 1, *shape)
    b = torch.rand(2, 1, *shape)
    with torch.inference_mode():
        fused = fuse_batch(tiny_model.net, a, b)
    assert fused.shape == a.shape
    assert fused.min() >= 0 and fused.max() <= 1


def test_background_stays_black(tiny_model):
    a = torch.zeros(1, 1, 128, 128)
    b = torch.zeros(1, 1, 128, 128)
    a[..., 40:80, 40:80] = 0.7
    b[..., 50:90, 50:90] = 0.4
    with torch.inference_mode():
        fused = fuse_batch(tiny_model.net, a, b)
    background = (a == 0) & (b == 0)
    background[..., 36:94, 36:94] = False  # 3x3 support ring around anatomy
    assert fused[background].abs().max().item() == 0.0


def test_untrained_refinement_is_the_identity_and_a_trained_one_changes_only_anatomy(tiny_model):
    refined = FusionNet(replace(TINY, refine=4)).eval()
    refined.load_state_dict(tiny_model.net.state_dict(), strict=False)
    a, b = torch.zeros(2, 1, 128, 128), torch.zeros(2, 1, 128, 128)
    a[..., 40:80, 40:80] = torch.rand(2, 1, 40, 40)
    b[..., 50:90, 50:90] = torch.rand(2, 1, 40, 40)
    with torch.inference_mode():
        plain = fuse_batch(tiny_model.net, a, b)
        assert torch.equal(fuse_batch(refined, a, b), plain)
        perturb(refined.refine, seed=3, scale=0.3)
        out = refined(a, b)
    assert (out.fused - plain).abs().max() > 0.05
    assert out.fused.min() >= 0 and out.fused.max() <= 1
    background = (a == 0) & (b == 0)
    background[..., 36:94, 36:94] = False
    assert out.fused[background].abs().max().item() == 0.0


def test_refinement_width_must_be_a_count():
    for bad in (-1, 2.5, True):
        with pytest.raises(FusionInputError, match="refine"):
            ModelConfig(refine=bad)


@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 1, 33, 17), (1, 1, 3, 3)])
@pytest.mark.parametrize("side", [3, 5, 7, 25])
def test_box_filters_equal_pooling(shape, side):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)) - 0.5
    assert torch.equal(box_max(x, side), F.max_pool2d(x, side, stride=1, padding=side // 2))
    padded = F.pad(x, (side // 2,) * 4, mode="replicate")
    torch.testing.assert_close(box_mean(x, side), F.avg_pool2d(padded, side, stride=1), atol=1e-6, rtol=0)
    assert box_mean(x, side).dtype == x.dtype
    ones = torch.ones(1, 1, 300, 300)
    ones[..., 100:200, 100:200] = torch.rand(100, 100)  # other values along the rows and columns, then a box of ones
    assert torch.all(box_mean(ones, side)[..., 200 + side:, 200 + side:] == 1)
    assert torch.all(box_mean(ones * 0, side) == 0)


def test_bad_shapes_are_refused():
    net = FusionNet(TINY)
    with pytest.raises(FusionInputError):
        net(torch.rand(1, 1, 70, 64), torch.rand(1, 1, 70, 64))
    with pytest.raises(FusionInputError):
        net(torch.rand(1, 2, 64, 64), torch.rand(1, 2, 64, 64))
    with pytest.raises(FusionInputError):
        ModelConfig(hidden=(1, 2))


def test_the_index_permutation_is_freias_both_ways_with_its_keys():
    np.random.seed(3)
    freia = Fm.PermuteRandom([(64, 4, 4)])
    np.random.seed(3)
    ours = IndexPermute([(64, 4, 4)])
    assert list(ours.state_dict()) == list(freia.state_dict())
    assert torch.equal(ours.perm, freia.perm) and not torch.equal(ours.perm, torch.arange(64))
    x = torch.rand(2, 64, 4, 4, requires_grad=True)
    for rev in (False, True):
        assert torch.equal(ours([x], rev=rev)[0][0], freia([x], rev=rev)[0][0])
    back = ours(ours([x])[0], rev=True)[0][0]
    assert torch.equal(back, x)
    back.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
