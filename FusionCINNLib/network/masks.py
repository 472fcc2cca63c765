"""Float masks and selections of images, made without boolean tensors.

On a CPU with torch 2.13 at one thread, a comparison that makes a boolean tensor and the ops that read one are several
times slower than float arithmetic over the same pixels (one 512x512 slice: ``(x > t).to(float)`` 0.86 ms against 0.17
ms here, ``torch.where`` 2.4 ms against 0.45 ms, ``max_pool2d`` over 4x4 cells 1.33 ms against 0.61 ms). The
post-processing stages make their masks and selections here from signs, clamps and thresholds instead; a fused slice
takes 1.6-2.5 % less for it (docs/speed.md, issue 14's forty-fourth round). Each gives the values of the boolean form
exactly (a zero may come out as +0.0 where the boolean form gives -0.0), for finite inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def over(x: torch.Tensor, floor: float) -> torch.Tensor:
    """1.0 where ``x`` > ``floor``, else 0.0; x's shape and dtype (``(x > floor).to(x.dtype)``)."""
    return (x - floor).sign().clamp_min(0.0)


def kept_over(x: torch.Tensor, floor: float) -> torch.Tensor:
    """``x`` where it is over ``floor``, else 0 (``x * (x > floor)``)."""
    return F.threshold(x, floor, 0.0)


def scaled_where_negative(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x`` where it is 0 or more, ``x * scale`` where it is negative (``torch.where(x < 0, x * scale, x)``);
    ``scale`` finite, broadcast to x."""
    return x.clamp_min(0.0) + x.clamp_max(0.0) * scale


def scaled_where_positive(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x * scale`` where ``x`` is positive, ``x`` elsewhere (``torch.where(x > 0, x * scale, x)``); ``scale``
    finite, broadcast to x."""
    return x.clamp_max(0.0) + x.clamp_min(0.0) * scale


def larger_magnitude(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` where \\|a\\| >= \\|b\\|, else ``b`` (``torch.where(a.abs() >= b.abs(), a, b)``)."""
    first = ((a.abs() - b.abs()).sign() + 1.0).clamp_max(1.0)
    return a * first + b * (1.0 - first)


def cell_max(x: torch.Tensor, cell: int) -> torch.Tensor:
    """The maximum of (N, C, H, W) over ``cell`` x ``cell`` px cells, (N, C, ceil(H / cell), ceil(W / cell))
    (``F.max_pool2d(x, cell, stride=cell, ceil_mode=True)``): over a view of the cells where H and W are multiples of
    ``cell`` (half the time of the pooling, which also finds the maxima's indices), by the pooling elsewhere."""
    n, c, h, w = (int(side) for side in x.shape)
    if h % cell or w % cell:
        return F.max_pool2d(x, cell, stride=cell, ceil_mode=True)
    return x.reshape(n, c, h // cell, cell, w // cell, cell).amax(5).amax(3)
