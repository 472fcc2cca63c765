"""Reduced precision: only the coupling subnets change precision, and the fused result stays close."""

import numpy as np
import pytest
import torch

from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.fusion.slices import fuse_slices, resolve_precision
from FusionCINNLib.network.model_files import available_models, load_model


def _trained_net():
    shipped = available_models()
    if not shipped:
        pytest.skip("no shipped model in Resources/Models (precision bounds are measured on trained weights)")
    return load_model(shipped[0]).net


def _slices():
    rng = np.random.default_rng(3)
    a = np.zeros((2, 96, 96), np.float32)
    b = np.zeros((2, 96, 96), np.float32)
    a[:, 20:70, 15:80] = rng.random((2, 50, 65))
    b[:, 10:80, 25:90] = rng.random((2, 70, 65)) * 0.7
    return a, b


def test_cpu_auto_precision_is_exact_float32():
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    assert resolve_precision("auto", torch.device("cuda")) == torch.float16
    with pytest.raises(FusionInputError):
        resolve_precision("float8", torch.device("cpu"))


def test_float16_subnets_stay_within_one_grey_level_on_cpu():
    net = _trained_net()
    a, b = _slices()
    exact = fuse_slices(net, a, b, device="cpu", precision="float32")
    half = fuse_slices(net, a, b, device="cpu", precision="float16")
    assert np.abs(exact - half).max() < 1 / 255


def test_bfloat16_error_is_bounded_and_not_automatic():
    """bfloat16 subnets stay near float32 but can exceed 1/255, which is why 'auto' never picks them."""
    net = _trained_net()
    a, b = _slices()
    exact = fuse_slices(net, a, b, device="cpu", precision="float32")
    low = fuse_slices(net, a, b, device="cpu", precision="bfloat16")
    assert np.abs(exact - low).max() < 4 / 255
    assert np.abs(exact - low).mean() < 0.5 / 255
