"""The conditional invertible network f(x; c) built from FrEIA blocks.

Layout (L = 5 Haar levels; a single-channel image cannot be split by a coupling block, so a Haar
downsampling comes first; FrEIA's, computed as in .haar_downsampling):

    x (1, H, W)
    Haar -> (4, H/2, W/2)       stage 1: coupling blocks conditioned on W_1(other)
    Haar -> (16, H/4, W/4)      stage 2: ... on W_2(other)
    Haar -> (64, H/8, W/8)      stage 3: ... on W_3(other)
    Haar -> (256, H/16, W/16)   stage 4: ... on W_4(other)
    Haar -> (1024, H/32, W/32)  coarsest block on W_5(other):
                                 "conv": convolutional couplings (any size)
                                 "paper": flatten + fully connected GLOW couplings (fixed size)
    z (same number of values as x)

Stages with few channels use FrEIA's AllInOneBlock (coupling + soft permutation + global affine);
wide stages use GLOWCouplingBlock + a fixed random channel permutation (FrEIA's PermuteRandom, run as an
index_select), which costs little, where AllInOneBlock would multiply by a dense channel x channel matrix.
"""

from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import numpy as np
import torch
from torch import nn

from .config import LEVELS, STAGES, ModelConfig
from .haar_downsampling import ButterflyHaarDownsampling

NOMINAL_SIZE = 64
"""Spatial size the conv variant is constructed for; its blocks run at any multiple of 32."""

ALL_IN_ONE_MAX_CHANNELS = 64


class Subnet(nn.Sequential):
    """A coupling subnet whose layers may run in reduced precision (``compute_dtype``).

    The invertible bookkeeping around it (Haar transforms, permutations, affine coupling) always
    stays in float32; only the subnet's convolutions run in ``compute_dtype`` under autocast, and
    its output is returned as float32. State-dict keys are those of a plain nn.Sequential."""

    compute_dtype: torch.dtype = torch.float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compute_dtype == torch.float32:
            return super().forward(x)
        with torch.autocast(x.device.type, dtype=self.compute_dtype):
            return super().forward(x).float()


def set_subnet_precision(module: nn.Module, dtype: torch.dtype) -> None:
    """Run every coupling subnet inside ``module`` in ``dtype`` (float32, bfloat16 or float16)."""
    for sub in module.modules():
        if isinstance(sub, Subnet):
            sub.compute_dtype = dtype


def conv_subnet(hidden: int) -> Callable[[int, int], nn.Module]:
    """Subnet constructor: conv -> ReLU -> 3x3 conv -> ReLU -> conv, last layer zero (identity init).

    Thin inputs/outputs (<= 32 channels) use 3x3 kernels, wide ones 1x1 to keep the cost down.
    """

    def build(channels_in: int, channels_out: int) -> nn.Module:
        k_in = 3 if channels_in <= 32 else 1
        k_out = 3 if channels_out <= 32 else 1
        last = nn.Conv2d(hidden, channels_out, k_out, padding=k_out // 2)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        return Subnet(
            nn.Conv2d(channels_in, hidden, k_in, padding=k_in // 2), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
            last)

    return build


def fc_subnet(hidden: int) -> Callable[[int, int], nn.Module]:
    """Fully connected subnet constructor for the paper variant, last layer zero (identity init)."""

    def build(channels_in: int, channels_out: int) -> nn.Module:
        last = nn.Linear(hidden, channels_out)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        return Subnet(nn.Linear(channels_in, hidden), nn.ReLU(), last)

    return build


class IndexPermute(Fm.PermuteRandom):
    """FrEIA's PermuteRandom (the same permutation drawn, the same state-dict keys) permuting the channels by
    ``index_select``: the same values as its advanced indexing ``x[:, perm]``, 2-6x faster on a CPU (one latent of
    1024 x 8 x 8: 12 against 72 us; docs/speed.md, issue 14's forty-fifth round)."""

    def forward(self, x: Sequence[torch.Tensor], rev: bool = False, jac: bool = True
                ) -> Tuple[List[torch.Tensor], float]:
        return [x[0].index_select(1, self.perm_inv if rev else self.perm)], 0.0


def _append_couplings(inn: Ff.SequenceINN, count: int, channels: int, cond: int, cond_shape: tuple,
                      hidden: int, clamp: float) -> None:
    for _ in range(count):
        if channels <= ALL_IN_ONE_MAX_CHANNELS:
            inn.append(Fm.AllInOneBlock, cond=cond, cond_shape=cond_shape, subnet_constructor=conv_subnet(hidden),
                       affine_clamping=clamp, permute_soft=True)
        else:
            inn.append(Fm.GLOWCouplingBlock, cond=cond, cond_shape=cond_shape,
                       subnet_constructor=conv_subnet(hidden), clamp=clamp)
            inn.append(IndexPermute)


def build_cinn(config: ModelConfig, seed: int = 0) -> Ff.SequenceINN:
    """The invertible network of ``config``; conditions are W_1..W_5 (4 channels each), in that order.

    For the "paper" variant the last condition must be flattened to (N, 4 * (size/32)^2).
    FrEIA draws its fixed permutations from NumPy's global generator: they come from ``seed``,
    and the caller's generator state is restored afterwards.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return _build(config)
    finally:
        np.random.set_state(state)


def _build(config: ModelConfig) -> Ff.SequenceINN:
    size = config.input_size or NOMINAL_SIZE
    inn = Ff.SequenceINN(1, size, size)
    channels = 1
    for stage in range(STAGES):
        inn.append(ButterflyHaarDownsampling)
        channels *= 4
        side = size // 2 ** (stage + 1)
        _append_couplings(inn, config.blocks[stage], channels, stage, (4, side, side),
                          config.hidden[stage], config.clamp)
    inn.append(ButterflyHaarDownsampling)
    channels *= 4
    side = size // 2 ** LEVELS
    if config.variant == "conv":
        _append_couplings(inn, config.blocks[STAGES], channels, STAGES, (4, side, side),
                          config.hidden[STAGES], config.clamp)
    else:
        inn.append(Fm.Flatten)
        flat = channels * side * side
        for _ in range(config.blocks[STAGES]):
            inn.append(Fm.GLOWCouplingBlock, cond=STAGES, cond_shape=(4 * side * side,),
                       subnet_constructor=fc_subnet(config.hidden[STAGES]), clamp=config.clamp)
            inn.append(IndexPermute)
        assert inn.shapes[-1] == (flat,)
    return inn


def count_trainable_parameters(module: nn.Module) -> int:
    """Number of trainable values (FrEIA's fixed Haar and permutation weights excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
