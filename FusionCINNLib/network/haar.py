"""Wavelet conditions: a multi-level 2D Haar DWT as a fixed, non-trainable stride-2 convolution.

Coefficients follow PyWavelets' ``pywt.dwt2(x, "haar")`` exactly (orthonormal Haar, odd sizes
extended by repeating the last row/column, which is PyWavelets' ``symmetric`` mode for Haar):
channel 0 = cA (LL), 1 = cH, 2 = cV, 3 = cD.

:func:`haar_analysis` and :func:`haar_synthesis` compute one level as sums and differences of the 2x2
pixel blocks, 2-5x faster on a CPU than a stride-2 convolution; the cINN's Haar downsampling uses them
(network/haar_downsampling.py). The conditions here stay a convolution: the max-abs fusion of the two
sources' coefficients breaks near-ties by the last bit, so the other summation order moved fused atlas
pixels by up to 0.0057 (docs/speed.md, "Third round").
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .masks import larger_magnitude

HAAR_KERNELS = torch.tensor([
    [[0.5, 0.5], [0.5, 0.5]],      # cA: approximation
    [[0.5, 0.5], [-0.5, -0.5]],    # cH: detail across rows (horizontal edges)
    [[0.5, -0.5], [0.5, -0.5]],    # cV: detail across columns (vertical edges)
    [[0.5, -0.5], [-0.5, 0.5]],    # cD: diagonal detail
]).unsqueeze(1)


def haar_analysis(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One orthonormal Haar level of each channel of (N, C, H, W), H and W even: (cA, cH, cV, cD), each
    (N, C, H/2, W/2); cA = (p00 + p01 + p10 + p11) / 2, cH = (p00 + p01 - p10 - p11) / 2 (rows differ),
    cV = (p00 - p01 + p10 - p11) / 2 (columns differ), cD = (p00 - p01 - p10 + p11) / 2, where p_rc is
    the pixel at row r and column c of each 2x2 block."""
    blocks = x.unflatten(-1, (-1, 2)).unflatten(-3, (-1, 2))  # (N, C, H/2, 2, W/2, 2)
    top, bottom = blocks.select(-3, 0), blocks.select(-3, 1)
    row_sum, row_diff = (top + bottom) * 0.5, (top - bottom) * 0.5
    return (row_sum[..., 0] + row_sum[..., 1], row_diff[..., 0] + row_diff[..., 1],
            row_sum[..., 0] - row_sum[..., 1], row_diff[..., 0] - row_diff[..., 1])


def haar_synthesis(ca: torch.Tensor, ch: torch.Tensor, cv: torch.Tensor, cd: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`haar_analysis`: (N, C, h, w) coefficients -> (N, C, 2h, 2w) pixels."""
    upper, lower = (ca + ch) * 0.5, (ca - ch) * 0.5
    across, against = (cv + cd) * 0.5, (cv - cd) * 0.5
    top = torch.stack([upper + across, upper - across], -1)
    bottom = torch.stack([lower + against, lower - against], -1)
    return torch.stack([top, bottom], -3).flatten(-2).flatten(-3, -2)


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
    return [larger_magnitude(ca, cb) for ca, cb in zip(coeffs_a, coeffs_b)]
