"""The traced network: the same fused values as the plain one, made only for repeated shapes, and
dropped when the weights change."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from conftest import TINY, perturb
from FusionCINNLib.fusion import slices, traced_net
from FusionCINNLib.fusion.slices import fuse_batch, fuse_slices
from FusionCINNLib.imaging.intensity import window_for
from FusionCINNLib.network import FusionNet
from FusionCINNLib.network.model_files import available_models, load_model

PAIRS = {"fusioncinn-ct-mri": "CT-MRI", "fusioncinn-all": "PET-MRI"}


def _untraced(net, a, b):
    """The fused slices of the plain network (fuse_batch without a trace)."""
    pad = slices._pad
    multiple = net.config.multiple
    h, w = a.shape[-2:]
    return net(pad(a, multiple), pad(b, multiple)).fused[..., :h, :w].clamp(0.0, 1.0)


def _atlas_slices(atlas, folder, count):
    names = sorted((atlas / folder / "a").iterdir())[:count]
    arrays = []
    for side in ("a", "b"):
        stack = [sitk.GetArrayFromImage(sitk.ReadImage(str(atlas / folder / side / n.name))) for n in names]
        stack = [s[..., 0] if s.ndim == 3 else s for s in stack]
        arrays.append(np.stack([window_for(s, "display").normalise(s) for s in stack])[:, None])
    return torch.from_numpy(arrays[0]), torch.from_numpy(arrays[1])


@pytest.mark.parametrize("model", sorted(PAIRS))
def test_traced_shipped_models_fuse_atlas_slices_like_the_plain_network(model, atlas, monkeypatch):
    if model not in {m.name for m in available_models()}:
        pytest.skip(f"shipped model {model} not found")
    net = load_model(next(m for m in available_models() if m.name == model)).net.eval()
    a, b = _atlas_slices(atlas, PAIRS[model], 3)
    monkeypatch.setattr(traced_net, "TRACE_AFTER", 0)
    with torch.inference_mode():
        plain = _untraced(net, a, b)
        assert traced_net.traced_fusion(net, a, b) is not None
        traced = fuse_batch(net, a, b)
        odd_a, odd_b = a[:2, :, :200, :168], b[:2, :, :200, :168]  # padded by reflection to 224 x 192
        odd = fuse_batch(net, odd_a, odd_b)
        odd_plain = _untraced(net, odd_a, odd_b)
    assert (traced - plain).abs().max().item() <= 1e-5
    assert (odd - odd_plain).abs().max().item() <= 1e-5
    assert float(plain.std()) > 0.05, "the atlas slices fused to a flat image: the comparison shows nothing"


def test_a_shape_is_traced_only_after_repeats_and_the_trace_follows_weight_changes(monkeypatch):
    net = perturb(FusionNet(TINY), seed=3).eval()
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 64, 96, generator=gen), torch.rand(2, 1, 64, 96, generator=gen)
    monkeypatch.setattr(traced_net, "TRACE_AFTER", 2)
    with torch.inference_mode():
        assert [traced_net.traced_fusion(net, a, b) is None for _ in range(3)] == [True, True, False]
        assert traced_net.traced_fusion(net, a[:1], b[:1]) is None, "another shape has its own count"
    with torch.no_grad():
        for p in net.inn.parameters():
            if p.requires_grad:
                p.mul_(1.5)
    with torch.inference_mode():
        assert traced_net.traced_fusion(net, a, b) is None, "the weights changed: the old trace must go"
        for _ in range(3):
            fused = fuse_batch(net, a, b)
        assert traced_net.traced_fusion(net, a, b) is not None
        assert (fused - _untraced(net, a, b)).abs().max().item() <= 1e-5


def test_the_trace_follows_a_changed_configuration(monkeypatch):
    """A trace bakes in the configuration's choices: with the finding transfer switched on after a trace
    was made, the fused slices must be the transfer's, not the stale graph's."""
    from dataclasses import replace

    net = perturb(FusionNet(TINY), seed=4).eval()
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 1, 64, 96, generator=gen), torch.rand(2, 1, 64, 96, generator=gen)
    b[:, :, 20:30, 40:50] = 0.0
    a[:, :, 20:30, 40:50] = 1.0  # a focus only A shows: the transfer changes the result there
    monkeypatch.setattr(traced_net, "TRACE_AFTER", 0)
    with torch.inference_mode():
        without = fuse_batch(net, a, b)
        assert traced_net.traced_fusion(net, a, b) is not None
        net.config = replace(net.config, finding_levels=3)
        with_transfer = fuse_batch(net, a, b)
        plain = _untraced(net, a, b)
    assert (with_transfer - plain).abs().max().item() <= 1e-5
    assert (with_transfer - without).abs().max().item() > 0.01


def test_no_trace_in_training_mode_or_reduced_precision(monkeypatch):
    net = perturb(FusionNet(TINY), seed=4)
    a = torch.rand(1, 1, 32, 32)
    monkeypatch.setattr(traced_net, "TRACE_AFTER", 0)
    with torch.inference_mode():
        assert traced_net.traced_fusion(net.train(), a, a) is None
        assert traced_net.traced_fusion(net.eval(), a.double(), a.double()) is None


def test_volume_fused_by_two_workers_through_traces_equals_the_plain_network(monkeypatch):
    net = perturb(FusionNet(TINY), seed=5).eval()
    rng = np.random.default_rng(1)
    a, b = rng.random((12, 48, 80), dtype=np.float32), rng.random((12, 48, 80), dtype=np.float32)
    monkeypatch.setattr(traced_net, "TRACE_AFTER", 1)
    fused = fuse_slices(net, a, b, device="cpu", batch_size=1, workers=2)
    with torch.inference_mode():
        plain = _untraced(net, torch.from_numpy(a)[:, None], torch.from_numpy(b)[:, None])[:, 0].numpy()
    assert traced_net.traced_fusion(net, torch.zeros(1, 1, 64, 96), torch.zeros(1, 1, 64, 96)) is not None
    np.testing.assert_allclose(fused, plain, atol=1e-5, rtol=0)
