"""Wavelet conditions: a multi-level 2D Haar DWT as a fixed, non-trainable stride-2 convolution.

Coefficients follow PyWavelets' ``pywt.dwt2(x, "haar")`` exactly (orthonormal Haar, odd sizes
extended by repeating the last row/column, which is PyWavelets' ``symmetric`` mode for Haar):
channel 0 = cA (LL), 1 = cH, 2 = cV, 3 = cD.
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

HAAR_KERNELS = torch.tensor([
    [[0.5, 0.5], [0.5, 0.5]],      # cA: approximation
    [[0.5, 0.5], [-0.5, -0.5]],    # cH: detail across rows (horizontal edges)
    [[0.5, -0.5], [0.5, -0.5]],    # cV: detail across columns (vertical edges)
    [[0.5, -0.5], [-0.5, 0.5]],    # cD: diagonal detail
]).unsqueeze(1)


class HaarDWT(nn.Module):
    """Multi-level Haar analysis of single-channel images.

    ``forward(x)`` takes ``x`` of shape (N, 1, H, W) and returns ``levels`` tensors; level l
    (1-based) has shape (N, 4, ceil(H / 2^l), ceil(W / 2^l)) and holds (cA, cH, cV, cD) of the
    DWT of level l-1's cA. The kernel is a buffer, not a parameter: nothing here is trained or saved.
    """

    def __init__(self, levels: int):
        super().__init__()
        if levels < 1:
            raise ValueError("levels must be >= 1")
        self.levels = levels
        self.register_buffer("kernel", HAAR_KERNELS.clone(), persistent=False)

    def single_level(self, x: torch.Tensor) -> torch.Tensor:
        """One Haar level of (N, 1, H, W) -> (N, 4, ceil(H/2), ceil(W/2))."""
        pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        coefficients = []
        approximation = x
        for _ in range(self.levels):
            level = self.single_level(approximation)
            coefficients.append(level)
            approximation = level[:, :1]
        return coefficients


def max_abs_fuse(coeffs_a: List[torch.Tensor], coeffs_b: List[torch.Tensor]) -> List[torch.Tensor]:
    """The fused condition c_F: per level and coefficient, the one with the larger magnitude (ties -> A)."""
    return [torch.where(ca.abs() >= cb.abs(), ca, cb) for ca, cb in zip(coeffs_a, coeffs_b)]
