"""GPU behaviour: CUDA results against the CPU, float16 subnets within 1/255, and the out-of-memory
fallback (batch halving, then the CPU). Skipped on machines without a CUDA GPU."""

import numpy as np
import pytest
import torch

from conftest import perturb
from FusionCINNLib.fusion.slices import fuse_slices
from FusionCINNLib.network import FusionNet, ModelConfig
from FusionCINNLib.network.model_files import available_models, load_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def _net() -> FusionNet:
    shipped = available_models()
    if shipped:
        return load_model(shipped[0]).net
    torch.manual_seed(0)
    return perturb(FusionNet(ModelConfig()), scale=0.02).eval()


def _slices(n=6, size=256):
    rng = np.random.default_rng(0)
    a = np.zeros((n, size, size), np.float32)
    b = np.zeros((n, size, size), np.float32)
    a[:, 40:200, 50:210] = rng.random((n, 160, 160)) * 0.8
    b[:, 60:220, 30:190] = rng.random((n, 160, 160)) * 0.9
    return a, b


def test_cuda_float32_matches_cpu():
    a, b = _slices()
    cpu = fuse_slices(_net(), a, b, device="cpu")
    gpu = fuse_slices(_net(), a, b, device="cuda", precision="float32")
    assert np.abs(cpu - gpu).max() < 1e-4


def test_float16_subnets_stay_within_one_grey_level():
    a, b = _slices()
    cpu = fuse_slices(_net(), a, b, device="cpu")
    half = fuse_slices(_net(), a, b, device="cuda", precision="auto")
    assert np.abs(cpu - half).max() < 1 / 255


def test_out_of_memory_halves_batch_then_falls_back_to_cpu(capsys):
    a, b = _slices(n=4, size=512)
    cpu = fuse_slices(_net(), a, b, device="cpu")
    net = _net().to("cuda")
    torch.cuda.empty_cache()
    # Room for the weights already there and 1 MiB more, on any card: no 512x512 batch fits.
    cap = (torch.cuda.memory_reserved() + 2 ** 20) / torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(cap)
    try:
        result = fuse_slices(net, a, b, device="cuda", batch_size=4, precision="float32")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    err = capsys.readouterr().err
    assert "retrying with batch size 2" in err and "continuing on the CPU" in err
    assert np.abs(cpu - result).max() < 1e-4
