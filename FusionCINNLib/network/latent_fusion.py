"""Latent fusion: the mean rule plus the relevance activation map (RAM) of the paper."""

from __future__ import annotations

import torch
from torch import nn


class RelevanceActivationMap(nn.Module):
    """z_F = (z_A|B + z_B|A) / 2 + conv(z_A|B) * z_B|A  (element-wise product).

    The conv is depth-wise (one k x k filter per latent channel), zero-initialised so an untrained
    map is the plain mean rule. Latents are (N, C, h, w).
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, z_ab: torch.Tensor, z_ba: torch.Tensor) -> torch.Tensor:
        return 0.5 * (z_ab + z_ba) + self.conv(z_ab) * z_ba
