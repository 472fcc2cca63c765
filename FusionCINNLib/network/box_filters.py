"""Box filters of (N, 1, H, W) images, same shape out: the maximum and the mean over an odd side x side box.

Both run along one axis, then the other, over shifted slices of the edge-replicated images, not ``max_pool2d`` /
``avg_pool2d`` or a convolution: on a CPU max_pool2d also computes indices (about 10x slower at 3x3), and a 7x7
mean of sixteen 512x512 slices takes 12 ms this way, 237 ms as two 1D convolutions (docs/speed.md). A box of ones
sums to exactly side^2 and one of zeros to 0 (no running totals carry other pixels' rounding in).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_max(x: torch.Tensor, side: int) -> torch.Tensor:
    """``side`` x ``side`` maximum (odd side) of (N, 1, H, W) images; edges see only pixels inside (equal to
    ``F.max_pool2d(x, side, stride=1, padding=side // 2)``). Windows of doubling width: about log2(side) maxima a
    side instead of side - 1 (a 25x25 box of two 256x256 slices 1.2 -> 0.3 ms)."""
    half = side // 2
    padded = F.pad(x, (half,) * 4, mode="replicate")
    return _max_along(_max_along(padded, side, -2), side, -1)


def _max_along(x: torch.Tensor, side: int, dim: int) -> torch.Tensor:
    """The maximum over windows of ``side`` values along ``dim`` (-2 or -1): ``side`` - 1 fewer values out."""
    width = 1
    while width < side:
        step = min(width, side - width)
        length = int(x.shape[dim]) - step
        x = torch.maximum(x.narrow(dim, 0, length), x.narrow(dim, step, length))
        width += step
    return x


def box_mean(x: torch.Tensor, side: int) -> torch.Tensor:
    """``side`` x ``side`` mean (odd side) of (N, 1, H, W) images, edges replicated (equal to ``avg_pool2d`` of
    the replicate-padded images within float32 rounding; exactly 1 over a box of ones and 0 over one of zeros)."""
    return _box_sum(x, side) / (side * side)


def _box_sum(x: torch.Tensor, side: int) -> torch.Tensor:
    """The sum of the ``side`` shifted slices of the edge-replicated x, along rows, then columns."""
    half = side // 2
    padded = F.pad(x, (half,) * 4, mode="replicate")
    height, width = x.shape[-2:]
    rows = padded[..., :height, :]
    for shift in range(1, side):
        rows = rows + padded[..., shift:shift + height, :]
    out = rows[..., :width]
    for shift in range(1, side):
        out = out + rows[..., shift:shift + width]
    return out
