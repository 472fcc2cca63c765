"""Fusion metrics against values worked out by hand."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from FusionCINNLib.metrics import (
    METRIC_NAMES, average_gradient, compute_metrics, edge_intensity, entropy, mutual_information,
    pairwise_mutual_information, qabf, scd, spatial_frequency, ssim, ssim_index, standard_deviation, vif, vifp)


def _random(shape=(64, 64), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, shape)


def _columns(shape=(64, 64)) -> np.ndarray:
    """0/100 alternating columns."""
    return np.tile(100.0 * (np.arange(shape[1]) % 2), (shape[0], 1))


def _rows(shape=(64, 64)) -> np.ndarray:
    """0/100 alternating rows: independent of :func:`_columns` (each of the 4 pairs is 1/4 of pixels)."""
    return _columns(shape[::-1]).T


def _ramp(shape, c, d) -> np.ndarray:
    """F[i, j] = d*i + c*j."""
    i, j = np.indices(shape, dtype=np.float64)
    return d * i + c * j


# EN ---------------------------------------------------------------------------------------

def test_entropy_two_equal_levels_is_one_bit():
    assert entropy(_columns()) == pytest.approx(1.0, abs=1e-12)


def test_entropy_four_equal_levels_is_two_bits_and_constant_is_zero():
    assert entropy(_columns() + _rows() * 2) == pytest.approx(2.0, abs=1e-12)
    assert entropy(np.full((8, 8), 37.0)) == 0.0


def test_entropy_rounds_to_grey_levels():
    image = _columns() + 0.3
    assert entropy(image) == pytest.approx(1.0)


# SD ---------------------------------------------------------------------------------------

def test_standard_deviation_of_known_array():
    # mean 15, squared deviations 225, 25, 25, 225 -> variance 125
    assert standard_deviation(np.array([[0.0, 10.0], [20.0, 30.0]])) == pytest.approx(math.sqrt(125.0))


# SF / AG / EI -------------------------------------------------------------------------------

def test_spatial_frequency_of_ramps():
    m, n, c, d = 20, 30, 3.0, 2.0
    # RF^2 = M (N - 1) c^2 / (M N), CF^2 = (M - 1) N d^2 / (M N)
    expected = math.sqrt(c * c * (n - 1) / n + d * d * (m - 1) / m)
    assert spatial_frequency(_ramp((m, n), c, d)) == pytest.approx(expected, rel=1e-12)
    assert spatial_frequency(_ramp((m, n), c, 0.0)) == pytest.approx(c * math.sqrt((n - 1) / n), rel=1e-12)


def test_average_gradient_of_ramp():
    assert average_gradient(_ramp((20, 30), 3.0, 0.0)) == pytest.approx(3.0 / math.sqrt(2.0), rel=1e-12)
    assert average_gradient(_ramp((20, 30), 3.0, 4.0)) == pytest.approx(math.sqrt((9.0 + 16.0) / 2.0), rel=1e-12)


def test_edge_intensity_constant_is_zero():
    assert edge_intensity(np.full((16, 16), 200.0)) == 0.0


def test_edge_intensity_of_ramp():
    # Sobel x of c*j: 8c inside, 4c in the two replicated border columns -> mean 8c(N-1)/N
    n, c = 30, 2.0
    assert edge_intensity(_ramp((20, n), c, 0.0)) == pytest.approx(8 * c * (n - 1) / n, rel=1e-12)


# MI ---------------------------------------------------------------------------------------

def test_mutual_information_with_itself_is_entropy():
    a = np.round(_random())
    assert pairwise_mutual_information(a, a) == pytest.approx(entropy(a), abs=1e-9)
    assert mutual_information(a, a, np.full_like(a, 50.0)) == pytest.approx(entropy(a), abs=1e-9)


def test_mutual_information_independent_sources_and_their_sum():
    a, b = 0.5 * _columns(), _rows()
    assert pairwise_mutual_information(a, b) == pytest.approx(0.0, abs=1e-12)
    # F = A + B takes the values 0, 50, 100, 150, each fixing A and B: MI(F, A) = H(A) = 1 bit, same for B
    assert mutual_information(a + b, a, b) == pytest.approx(2.0, abs=1e-12)


# SCD --------------------------------------------------------------------------------------

def test_scd_of_sum_is_two():
    a, b = _random(seed=1), _random(seed=2)
    assert scd(a + b, a, b) == pytest.approx(2.0, abs=1e-12)


def test_scd_of_one_source_with_uncorrelated_equal_variance_other():
    # F = A: r(A - B, A) = var A / sqrt(var A (var A + var B)) = 1/sqrt(2); F - A = 0 counts 0
    a, b = _columns(), _rows()
    assert scd(a, a, b) == pytest.approx(1.0 / math.sqrt(2.0), abs=1e-12)


# SSIM -------------------------------------------------------------------------------------

def test_ssim_identical_is_one_each():
    x = _random()
    assert ssim_index(x, x) == pytest.approx(1.0, abs=1e-12)
    assert ssim(x, x, x) == pytest.approx(2.0, abs=1e-12)


def test_ssim_of_two_constants():
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 50 + c1) / (100 ** 2 + 50 ** 2 + c1)
    assert ssim_index(np.full((16, 16), 100.0), np.full((16, 16), 50.0)) == pytest.approx(expected, rel=1e-12)


def test_ssim_needs_window_size():
    with pytest.raises(ValueError, match="11x11"):
        ssim_index(np.zeros((10, 20)), np.zeros((10, 20)))


# VIF --------------------------------------------------------------------------------------

def test_vif_identical_is_one_each():
    x = _random()
    assert vifp(x, x) == pytest.approx(1.0, abs=1e-8)
    assert vif(x, x, x) == pytest.approx(2.0, abs=1e-8)


def test_vif_offset_keeps_information_and_flat_fused_has_none():
    x = _random()
    assert vifp(x, x + 20.0) == pytest.approx(1.0, abs=1e-6)
    assert vifp(x, np.full_like(x, 128.0)) == 0.0
    assert vifp(x, 2.0 * x) > 1.0
    assert vifp(np.full_like(x, 10.0), x) == 1.0


def test_vif_needs_four_scales():
    with pytest.raises(ValueError, match="41x41"):
        vifp(np.zeros((40, 64)), np.zeros((40, 64)))


# Qabf -------------------------------------------------------------------------------------

Q_PERFECT = 0.9994 / (1 + math.exp(-15 * (1 - 0.5))) * 0.9879 / (1 + math.exp(-22 * (1 - 0.8)))


def test_qabf_fused_equals_a_with_flat_b_is_the_perfect_edge_score():
    a = _random()
    assert qabf(a, a, np.full_like(a, 90.0)) == pytest.approx(Q_PERFECT, rel=1e-12)
    assert qabf(a, a, a) == pytest.approx(Q_PERFECT, rel=1e-12)


def test_qabf_flat_sources_score_zero_and_flat_fused_scores_low():
    flat = np.full((32, 32), 10.0)
    assert qabf(_random((32, 32)), flat, flat) == 0.0
    a = _random()
    assert qabf(np.full_like(a, 90.0), a, a) < 0.01


# compute_metrics ----------------------------------------------------------------------------

def test_compute_metrics_keys_and_values():
    a, b = _random(seed=3), _random(seed=4)
    f = (a + b) / 2
    values = compute_metrics(f, a, b)
    assert list(values) == list(METRIC_NAMES) == ["EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "EI"]
    assert values["SCD"] == scd(f, a, b)
    assert values["EN"] == entropy(f)
    assert all(isinstance(v, float) for v in values.values())


def test_compute_metrics_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        compute_metrics(np.zeros((64, 64)), np.zeros((64, 64)), np.zeros((64, 63)))
    with pytest.raises(ValueError, match="2D"):
        compute_metrics(np.zeros(64), np.zeros(64), np.zeros(64))


def test_compute_metrics_is_fast_on_256():
    a, b = _random((256, 256), 5), _random((256, 256), 6)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        compute_metrics((a + b) / 2, a, b)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.5


@settings(max_examples=20, deadline=None)
@given(arrays(np.float64, (48, 48), elements=st.floats(0, 255)), arrays(np.float64, (48, 48), elements=st.floats(0, 255)))
def test_source_metrics_are_symmetric_and_in_range(a, b):
    f = (a + b) / 2
    forward, swapped = compute_metrics(f, a, b), compute_metrics(f, b, a)
    for name in ("MI", "SCD", "VIF", "Qabf", "SSIM"):
        assert forward[name] == pytest.approx(swapped[name], abs=1e-9)
    assert 0.0 <= forward["EN"] <= 8.0
    assert 0.0 <= forward["Qabf"] <= Q_PERFECT + 1e-12
    assert -2.0 <= forward["SCD"] <= 2.0
    assert -2.0 <= forward["SSIM"] <= 2.0 + 1e-12
