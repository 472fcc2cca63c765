"""The training loss terms on images whose answer is known by construction."""

import torch

from FusionCINNLib.training.losses import edge_term, gradient_magnitude, sobel


def _step(n: int = 48, at: int = 12) -> torch.Tensor:
    """(1, 1, n, n) image: 0 left of column ``at``, 1 from it on."""
    image = torch.zeros(1, 1, n, n)
    image[..., at:] = 1.0
    return image


def test_sobel_of_a_ramp_is_its_slope():
    ramp = torch.arange(32.0).repeat(32, 1)[None, None] * 0.5
    gx, gy = sobel(ramp)
    assert torch.allclose(gx[..., 1:-1, 1:-1], torch.full_like(gx[..., 1:-1, 1:-1], 0.5))
    assert torch.count_nonzero(gy) == 0
    assert torch.allclose(gradient_magnitude(ramp)[..., 1:-1, 1:-1], torch.tensor(0.5))


def test_edge_term_is_zero_when_the_fused_image_keeps_every_edge():
    a = torch.zeros(1, 1, 48, 48)
    a[..., :, 10:] = 1.0
    a[..., :, 14:] = 0.0
    b = torch.zeros(1, 1, 48, 48)
    b[..., 30:36, 24:] = 1.0
    assert edge_term(a, a, torch.full_like(a, 0.3)) == 0
    assert edge_term(a + b, a, b) == 0


def test_edge_term_punishes_lost_edges_and_flipped_polarity():
    a = _step()
    flat = torch.full_like(a, 0.5)
    gx, gy = sobel(a)
    lost = edge_term(flat, a, flat)
    assert torch.isclose(lost, (gx.abs() + gy.abs()).mean())
    assert torch.isclose(edge_term(1.0 - a, a, flat), 2 * lost)
    assert edge_term(0.5 * a, a, flat) < lost
