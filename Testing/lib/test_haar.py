import numpy as np
import pytest
import pywt
import torch

from FusionCINNLib.network.haar import HaarDWT, max_abs_fuse


@pytest.mark.parametrize("shape", [(64, 64), (128, 96), (257, 311), (33, 17)])
def test_haar_levels_equal_pywavelets(shape):
    rng = np.random.default_rng(1)
    x = rng.random(shape)
    levels = 4
    ours = HaarDWT(levels)(torch.from_numpy(x).float()[None, None])
    approx = x
    for level in range(levels):
        ca, (ch, cv, cd) = pywt.dwt2(approx, "haar")
        got = ours[level][0].double().numpy()
        for k, ref in enumerate((ca, ch, cv, cd)):
            assert got[k].shape == ref.shape
            np.testing.assert_allclose(got[k], ref, atol=1e-6 * 2 ** level, rtol=1e-6)
        approx = ca


def test_haar_has_no_trainable_or_saved_state():
    dwt = HaarDWT(3)
    assert not list(dwt.parameters())
    assert dwt.state_dict() == {}


def test_max_abs_picks_larger_magnitude():
    a = [torch.tensor([[1.0, -5.0, 2.0]])]
    b = [torch.tensor([[-3.0, 4.0, 2.0]])]
    fused = max_abs_fuse(a, b)[0]
    assert fused.tolist() == [[-3.0, -5.0, 2.0]]
