"""Filters on a grid of cells (the headroom pedestal's grid, network.headroom, and a volume's, fusion.across_slices):
Gaussian blurs, window sums, means and maxima of (N, C, h, w) maps, and a linear ramp. Sizes are read as Python
ints, constants in a trace made per input shape (fusion.traced_net)."""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from .axis_filters import filter_both


def gaussian(sigma: float) -> torch.Tensor:
    """A normalised Gaussian kernel of ``sigma`` cells, 2 ceil(3 sigma) + 1 taps (at least 3)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.tensor([math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)])
    return taps / taps.sum()


def ramp(x: torch.Tensor, closed: float, opened: float) -> torch.Tensor:
    """0 at ``closed``, 1 at ``opened``, linear between (either way round)."""
    return ((x - closed) / (opened - closed)).clamp(0.0, 1.0)


def _blur_along(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """(N, 1, h, w) convolved along ``dim`` (-2 or -1) with ``kernel``, reflected borders."""
    radius = len(kernel) // 2
    padded = F.pad(x, (0, 0, radius, radius) if dim == -2 else (radius, radius, 0, 0), mode="reflect")
    return F.conv2d(padded, kernel.to(x).view((1, 1, -1, 1) if dim == -2 else (1, 1, 1, -1)))


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (``sigma`` cells, :func:`gaussian`) of (N, 1, h, w), reflected borders (h, w over
    the kernel's radius): a product with each axis's matrix (network.axis_filters), which costs 1-4x less than a
    one-channel convolution on one slice and 15x less on a batch of 32 at 128x128 cells (docs/speed.md)."""
    return filter_both(x, ("gaussian", sigma), lambda y, dim: _blur_along(y, gaussian(sigma), dim))


def halved(x: torch.Tensor) -> torch.Tensor:
    """The means of 2x2 px cells of (N, C, H, W) maps, H and W even: ``F.avg_pool2d(x, 2)`` bit for bit (its sum
    order, then / 4), from four strided views; 3-5x faster on a CPU, where avg_pool2d's kernel for this layout adds
    one value at a time (docs/speed.md, issue 14's forty-fifth round)."""
    return (((x[..., 0::2, 0::2] + x[..., 0::2, 1::2]) + x[..., 1::2, 0::2]) + x[..., 1::2, 1::2]) / 4.0


def window_sums(x: torch.Tensor, radii: Sequence[int]) -> Dict[int, torch.Tensor]:
    """Sums of (N, 1, h, w) over (2 r + 1)^2 windows for each r in ``radii``, zero outside the image, from
    one integral image."""
    big = max(radii)
    h, w = (int(side) for side in x.shape[-2:])
    table = F.pad(x, (big + 1, big, big + 1, big)).cumsum(-2).cumsum(-1)
    sums = {}
    for r in radii:
        high, low = big + r + 1, big - r
        sums[r] = (table[..., high:high + h, high:high + w] - table[..., low:low + h, high:high + w]
                   - table[..., high:high + h, low:low + w] + table[..., low:low + h, low:low + w])
    return sums


def window_mean(x: torch.Tensor, reach: int, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean of (N, 1, h, w) over the (2 ``reach`` + 1)^2 window around each cell, counting only the cells inside the
    image and, given a 0/1 ``weight`` of the same shape, only those where it is 1 (0 where the window has none)."""
    weight = torch.ones_like(x) if weight is None else weight
    inside, count = window_sums(torch.cat([x * weight, weight], 1), [reach])[reach].split(1, 1)
    return inside / count.clamp_min(1.0)


def max_along(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Maximum over a 2 radius + 1 window along ``dim`` of non-negative values (zero outside), by doubling."""
    n, k = int(x.shape[dim]), 2 * radius + 1
    padded = F.pad(x, (0, 0, radius, radius) if dim == -2 else (radius, radius, 0, 0))
    width = 1
    while 2 * width <= k:
        length = int(padded.shape[dim]) - width
        padded = torch.maximum(padded.narrow(dim, 0, length), padded.narrow(dim, width, length))
        width *= 2
    return torch.maximum(padded.narrow(dim, 0, n), padded.narrow(dim, k - width, n))


def window_max(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum of non-negative (N, 1, h, w) over an octagon reaching ``radius`` along each axis (a square of
    half-side ceil(radius / 2) widened by a diamond of the rest): a rounder plateau than a square's."""
    square = (radius + 1) // 2
    x = max_along(max_along(x, square, -2), square, -1)
    for _ in range(radius - square):
        x = torch.maximum(max_along(x, 1, -2), max_along(x, 1, -1))
    return x
