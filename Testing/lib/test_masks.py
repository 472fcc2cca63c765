"""network.masks: each float mask and selection gives the values of its boolean form, and the same gradients."""

import pytest
import torch
import torch.nn.functional as F

from FusionCINNLib.network import masks

SHAPES = [(2, 1, 64, 64), (1, 4, 40, 28), (3, 1, 37, 53)]


def images(shape, seed=0):
    """Two signed images with exact zeros, a value at the threshold used below, and ties of magnitude."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=generator) * 0.3
    y = torch.randn(*shape, generator=generator) * 0.3
    x[..., 0, :4] = 0.0
    x[..., 1, 0] = 0.02
    y[..., 2, :3] = -x[..., 2, :3]
    return x, y


@pytest.mark.parametrize("shape", SHAPES)
def test_masks_equal_their_boolean_forms(shape):
    x, y = images(shape)
    scale = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(masks.over(x, 0.02), (x > 0.02).to(x.dtype))
    assert torch.equal(masks.kept_over(x, 0.02), x * (x > 0.02))
    assert torch.equal(masks.scaled_where_negative(x, scale), torch.where(x < 0, x * scale, x))
    assert torch.equal(masks.scaled_where_positive(x, scale), torch.where(x > 0, x * scale, x))
    assert torch.equal(masks.larger_magnitude(x, y), torch.where(x.abs() >= y.abs(), x, y))
    assert torch.equal(masks.cell_max(x, 4), F.max_pool2d(x, 4, stride=4, ceil_mode=True))


def test_the_masks_are_not_all_one_or_all_zero():
    """The equalities above are checked where both outcomes occur (a mask of ones would pass a wrong form too)."""
    x, y = images((2, 1, 64, 64))
    share = float(masks.over(x, 0.02).mean())
    chosen_a = float((masks.larger_magnitude(x, y) == x).float().mean())
    assert 0.2 < share < 0.8 and 0.2 < chosen_a < 0.9


def test_the_gradients_equal_their_boolean_forms():
    """The transfer and the pedestal are trained through: the selections pass the same gradients (away from 0)."""
    x, y = images((1, 1, 32, 32), seed=3)
    x = torch.where(x == 0, torch.full_like(x, 1e-3), x)  # no exact zeros: there the two forms' subgradients differ
    scale = torch.rand(x.shape, generator=torch.Generator().manual_seed(4))
    pairs = [(lambda u, s: masks.scaled_where_negative(u, s), lambda u, s: torch.where(u < 0, u * s, u)),
             (lambda u, s: masks.scaled_where_positive(u, s), lambda u, s: torch.where(u > 0, u * s, u)),
             (lambda u, s: masks.kept_over(u, 0.02) * s, lambda u, s: u * (u > 0.02) * s)]
    for fast, reference in pairs:
        grads = []
        for rule in (fast, reference):
            u, s = x.clone().requires_grad_(True), scale.clone().requires_grad_(True)
            rule(u, s).sum().backward()
            grads.append((u.grad, s.grad))
        assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
