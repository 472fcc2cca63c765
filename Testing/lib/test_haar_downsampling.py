"""The Haar downsampling of the cINN computed with sums and differences: FrEIA's values in both
directions, its state dict, and the shipped networks' fused atlas slices unchanged."""

import FrEIA.modules as Fm
import pytest
import torch
import torch.nn.functional as F

from FusionCINNLib.network import FusionNet, cinn, haar
from FusionCINNLib.network.haar_downsampling import ButterflyHaarDownsampling
from FusionCINNLib.network.model_files import available_models, load_model
from test_traced_net import PAIRS, _atlas_slices


@pytest.mark.parametrize("shape", [(2, 1, 64, 96), (1, 4, 32, 32), (3, 16, 8, 16), (1, 256, 4, 2)])
def test_both_directions_equal_freias_convolutions(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    ours, theirs = ButterflyHaarDownsampling([shape[1:]]), Fm.HaarDownsampling([shape[1:]])
    (down,), jac = ours([x])
    (down_ref,), jac_ref = theirs([x])
    assert down.shape == down_ref.shape == (shape[0], 4 * shape[1], shape[2] // 2, shape[3] // 2)
    assert (down - down_ref).abs().max().item() <= 1e-6 and jac == jac_ref
    kept = down.clone()
    (up,), jac_rev = ours([down], rev=True)
    (up_ref,), jac_rev_ref = theirs([down.clone()], rev=True)
    assert (up - up_ref).abs().max().item() <= 1e-6 and jac_rev == jac_rev_ref
    assert (up - x).abs().max().item() <= 1e-5
    assert torch.equal(down, kept), "the inverse must not modify its input"
    assert ours.state_dict().keys() == theirs.state_dict().keys()


def _conditions_by_convolution(dwt, x):
    """One level of the Haar conditions as the stride-2 convolution they were computed with before."""
    return F.conv2d(x, haar.HAAR_KERNELS, stride=2)


@pytest.mark.parametrize("model", sorted(PAIRS))
def test_shipped_models_fuse_atlas_slices_as_with_freias_haar_and_convolved_conditions(model, atlas, monkeypatch):
    """Also guards the conditions: max-abs fusion breaks near-ties of the two sources' coefficients by the
    last bit, so computing them in another order (as sums and differences) moved fused pixels by 0.0057."""
    if model not in {m.name for m in available_models()}:
        pytest.skip(f"shipped model {model} not found")
    shipped = load_model(next(m for m in available_models() if m.name == model)).net.eval()
    a, b = _atlas_slices(atlas, PAIRS[model], 12)
    with torch.inference_mode():
        fused = shipped(a, b).fused
    monkeypatch.setattr(cinn, "ButterflyHaarDownsampling", Fm.HaarDownsampling)
    monkeypatch.setattr(haar.HaarDWT, "single_level", _conditions_by_convolution)
    reference = FusionNet(shipped.config).eval()
    reference.load_state_dict(shipped.state_dict())
    assert sum(isinstance(m, ButterflyHaarDownsampling) for m in reference.modules()) == 0
    assert sum(isinstance(m, ButterflyHaarDownsampling) for m in shipped.modules()) == 5
    with torch.inference_mode():
        fused_ref = reference(a, b).fused
    assert float(fused_ref.std()) > 0.05, "the atlas slices fused to a flat image: the comparison shows nothing"
    assert (fused - fused_ref).abs().max().item() <= 1e-5
