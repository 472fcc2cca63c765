"""Intensity windows: float32 results of the plain formula for every input type, inputs untouched."""

import numpy as np
import pytest

from FusionCINNLib.imaging.intensity import IntensityWindow


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.int32])
def test_normalise_is_the_window_formula_in_float32_and_leaves_the_input(dtype):
    window = IntensityWindow(-100.0, 1500.0, "ct")
    values = (np.random.default_rng(0).normal(size=(6, 7, 8)) * 900).clip(-1024, 3000).astype(dtype)
    if dtype == np.uint8:
        values = (values.astype(np.int64) % 256).astype(np.uint8)
    before = values.copy()
    expected = np.clip((values.astype(np.float64) + 100.0) / 1600.0, 0.0, 1.0)
    result = window.normalise(values)
    assert result.dtype == np.float32 and result.shape == values.shape
    np.testing.assert_allclose(result, expected, rtol=0, atol=2e-7)
    np.testing.assert_array_equal(values, before)


def test_denormalise_maps_back_in_float32_and_leaves_the_input():
    window = IntensityWindow(12.5, 812.5, "mri")
    values01 = np.random.default_rng(1).random((5, 9), dtype=np.float32)
    before = values01.copy()
    result = window.denormalise(values01)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, 12.5 + values01.astype(np.float64) * 800.0, rtol=1e-6)
    np.testing.assert_array_equal(values01, before)
    np.testing.assert_allclose(window.normalise(result), values01, atol=1e-6)


def test_denormalise_in_place_gives_the_same_values_in_the_array_it_was_given():
    window = IntensityWindow(-100.0, 1500.0, "ct")
    values01 = np.random.default_rng(2).random((4, 6, 7), dtype=np.float32)
    expected = window.denormalise(values01)
    view = np.moveaxis(values01, 0, 2)  # as the pipeline passes its fused stack: a strided view
    result = window.denormalise(view, in_place=True)
    assert result is view
    np.testing.assert_array_equal(values01, expected)
    with pytest.raises(TypeError, match="float32"):
        window.denormalise(values01.astype(np.float64), in_place=True)
