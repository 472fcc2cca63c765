"""Classical fusion baselines on hand-checkable inputs."""

from __future__ import annotations

import numpy as np
import pytest

from FusionCINNLib.baselines import fuse_average, fuse_dwt_max_abs, fuse_laplacian_pyramid

BASELINES = (fuse_average, fuse_dwt_max_abs, fuse_laplacian_pyramid)


def _step(shape=(16, 32), column=13) -> np.ndarray:
    """0 left of ``column``, 1 from it on: a vertical step edge."""
    image = np.zeros(shape, dtype=np.float32)
    image[:, column:] = 1.0
    return image


@pytest.mark.parametrize("fuse", BASELINES)
def test_constants_fuse_to_their_mean(fuse):
    fused = fuse(np.full((20, 24), 0.2, np.float32), np.full((20, 24), 0.6, np.float32))
    assert fused.dtype == np.float32 and fused.shape == (20, 24)
    np.testing.assert_allclose(fused, 0.4, atol=1e-6)


@pytest.mark.parametrize("fuse", BASELINES)
@pytest.mark.parametrize("shape", [(257, 311), (64, 64), (17, 9)])
def test_identical_inputs_come_back_unchanged_for_odd_and_non_square_sizes(fuse, shape):
    image = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    fused = fuse(image, image)
    assert fused.shape == shape and fused.dtype == np.float32
    np.testing.assert_allclose(fused, image, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (3, 2)])
def test_laplacian_pyramid_tiny_images(shape):
    image = np.random.default_rng(1).uniform(0, 1, shape)
    np.testing.assert_allclose(fuse_laplacian_pyramid(image, image, levels=6), image, atol=1e-6)


def test_dwt_one_level_keeps_step_from_one_source_exactly():
    # Haar pair (0, 1) | (0.5, 0.5): averaged approximation 1/sqrt(2), detail of A -1/sqrt(2) -> (0, 1).
    # Pairs away from the edge: (0 + 1)/2 / 2 -> 0.25 left, (2 + 1)/2 / 2 -> 0.75 right.
    fused = fuse_dwt_max_abs(_step(), np.full((16, 32), 0.5, np.float32), levels=1)
    expected = np.concatenate([np.full(12, 0.25), [0.0, 1.0], np.full(18, 0.75)])
    np.testing.assert_allclose(fused, np.tile(expected, (16, 1)), atol=1e-6)


@pytest.mark.parametrize("fuse", [fuse_dwt_max_abs, fuse_laplacian_pyramid])
def test_multiscale_rules_keep_the_full_edge_contrast_averaging_halves(fuse):
    a, b = _step(), np.full((16, 32), 0.5, np.float32)
    assert fuse_average(a, b)[:, 13] - fuse_average(a, b)[:, 12] == pytest.approx(0.5)
    fused = fuse(a, b)
    assert np.all(fused[:, 13] - fused[:, 12] > 0.9)


@pytest.mark.parametrize("fuse", BASELINES)
def test_output_is_clipped_to_unit_range(fuse):
    rng = np.random.default_rng(2)
    a = (rng.uniform(0, 1, (33, 47)) > 0.5).astype(np.float32)
    b = (rng.uniform(0, 1, (33, 47)) > 0.5).astype(np.float32)
    fused = fuse(a, b)
    assert fused.min() >= 0.0 and fused.max() <= 1.0


@pytest.mark.parametrize("fuse", BASELINES)
def test_mismatched_shapes_are_rejected(fuse):
    with pytest.raises(ValueError, match="one shape"):
        fuse(np.zeros((8, 8)), np.zeros((8, 9)))


@pytest.mark.parametrize("fuse", [fuse_dwt_max_abs, fuse_laplacian_pyramid])
def test_levels_must_be_positive(fuse):
    with pytest.raises(ValueError, match="levels"):
        fuse(np.zeros((8, 8)), np.zeros((8, 8)), levels=0)
