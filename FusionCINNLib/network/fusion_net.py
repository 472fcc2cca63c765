"""FusionNet: the whole FusionCINN fusion of one batch of registered slice pairs.

    c_A = W(x_A), c_B = W(x_B)                          Haar conditions, 5 levels
    z_A|B = f(x_A; c_B),  z_B|A = f(x_B; c_A)            forward analysis, each with the other's condition
    z_F = (z_A|B + z_B|A) / 2 + RAM(z_A|B) * z_B|A       latent fusion
    c_F = max-abs(c_A, c_B)                              fused condition
    x_F = f^-1(z_F; c_F)                                 inverse synthesis
    m = background mask                                  0 where both sources are ~0: background stays clean
    fused = x_F m                                        the paper's network (config.refine = 0), or
    fused = clip(x_F m + m R([x_F m, A, B]), 0, 1)       with the refinement CNN R (config.refine > 0)
    fused = p fused + (1 - p) A                          with config.source_alone: p the MRI's presence, 0 where
                                                         its 7x7 box is air (network.source_alone); then the
                                                         transfer below is weighted by p too
    fused = max(fused, d min(A, B))                      with config.source_floor: where the MRI is dark (d: 1 under
                                                         0.15, 0 over 0.25), not darker than both sources,
                                                         elsewhere not under 0 (network.source_floor)
    fused = clip(fused + m (T - P + L), 0, 1)            with the finding transfer T (config.finding_levels > 0):
                                                         A's salient local contrast that fused lacks (with
                                                         config.finding_joint, read jointly across levels; at
                                                         4-16 px also beside the MRI's structure that fused
                                                         follows, network.finding_transfer; its darkening
                                                         spared where the MRI stands out over its local
                                                         mean, and with config.finding_opposite where the MRI
                                                         shows a stronger finding of the opposite sign:
                                                         network.mri_detail; plus the MRI's bright detail that
                                                         fused + T lacks where the MRI stands well over its
                                                         local mean and A is quiet around: network.mri_restore),
                                                         and the headroom pedestal
                                                         P: a finding's surroundings lowered where T would be
                                                         cut at white (in a volume, its gates measured across
                                                         slices: fusion.across_slices), and the floor L: a
                                                         finding's surroundings lifted where T would be cut at
                                                         black (network.floor_pedestal)
    fused = fused + m g max(C(fused) - fused - k, 0)     A's bright finding filled: the fused image's dark detail
                                                         under 5 px inside it (C a 5x5 closing) lifted where the
                                                         transfer adds A's finding (g) and A stands out, less A's
                                                         own dark detail (k; network.focus_fill)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn

from ..errors import FusionInputError
from .box_filters import box_max
from .cinn import build_cinn
from .config import LEVELS, ModelConfig
from .finding_transfer import finding_correction
from .floor_pedestal import floor_field, floor_lift
from .focus_fill import focus_filled, kept_hole
from .haar import HaarDWT, max_abs_fuse
from .headroom import pedestal_fields, pedestal_from_fields
from .latent_fusion import RelevanceActivationMap
from .mri_detail import darkening_spared, height_on_cells, height_over_local_mean, opposite_finding
from .mri_restore import bright_detail_restored
from .refinement import Refinement
from .source_alone import keep_source_alone, source_presence
from .source_floor import floor_at_darker_source

LATENT_CHANNELS = 4 ** LEVELS


@dataclass
class FusionOutputs:
    """Everything one fusion pass computes; image tensors are (N, 1, H, W), latents (N, 1024, H/32, W/32).
    ``raw`` is the inverse pass's output x_F (before refinement and background mask)."""

    fused: torch.Tensor
    raw: torch.Tensor
    z_ab: torch.Tensor
    z_ba: torch.Tensor
    z_fused: torch.Tensor
    log_det_ab: torch.Tensor
    log_det_ba: torch.Tensor
    cond_fused: List[torch.Tensor]


@dataclass
class TransferParts:
    """A batch's fusion before the headroom pedestal is taken off (config.finding_levels > 0): the fused image
    before the finding transfer, the transfer's correction T and its weight m (the background mask, times the MRI's
    presence with config.source_alone), each (N, 1, H, W), the headroom pedestal's fields
    (network.headroom.pedestal_fields), the floor's lift on cells (network.floor_pedestal.floor_field) and how far
    under its closing the final image may stay (network.focus_fill.kept_hole, (N, 1, H, W)). A volume's
    slices are finished once the fields of the slices within reach are known (fusion.across_slices)."""

    fused: torch.Tensor
    correction: torch.Tensor
    mask: torch.Tensor
    fields: torch.Tensor
    floor: torch.Tensor
    hole: torch.Tensor

    def tensors(self) -> Tuple[torch.Tensor, ...]:
        """The parts in field order: ``TransferParts(*parts.tensors())`` is the same parts (a trace returns them)."""
        return tuple(getattr(self, field.name) for field in dataclasses.fields(self))


def finish(parts: TransferParts, volume: Optional[torch.Tensor] = None) -> torch.Tensor:
    """clip(fused + m (T - P + L), 0, 1): the fused image, with the headroom pedestal P made from the parts' fields, in
    a volume from the plateaus measured across its slices instead of the slice's own (``volume``:
    fusion.across_slices), and the floor's lift L (network.floor_pedestal; each slice its own); then filled inside
    A's bright finding (network.focus_fill)."""
    pedestal = pedestal_from_fields(parts.fields, parts.fused, parts.correction, volume)
    lift = floor_lift(parts.floor, parts.fused, parts.correction)
    clipped = (parts.fused + parts.mask * (parts.correction - pedestal + lift)).clamp(0.0, 1.0)
    return focus_filled(clipped, parts.correction, parts.hole, parts.mask)


class FusionNet(nn.Module):
    """The trainable FusionCINN model: cINN + relevance activation map. See the module docstring."""

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.dwt = HaarDWT(LEVELS)
        self.inn = build_cinn(config, seed)
        self.ram = RelevanceActivationMap(LATENT_CHANNELS, config.ram_kernel)
        self.refine = Refinement(config.refine) if config.refine else None

    def check_input(self, x: torch.Tensor) -> None:
        """Raise FusionInputError unless x is (N, 1, H, W) with sides this network accepts."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise FusionInputError(f"expected slices of shape (N, 1, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.config.multiple
        if h % m or w % m:
            raise FusionInputError(f"slice size {h}x{w} is not a multiple of {m}; pad first")
        if self.config.input_size is not None and (h, w) != (self.config.input_size,) * 2:
            raise FusionInputError(f"the paper variant takes {self.config.input_size}x{self.config.input_size} "
                                   f"slices, got {h}x{w}")

    def conditions(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Haar coefficients W_1..W_5 of x (N, 1, H, W): level l is (N, 4, H/2^l, W/2^l)."""
        return self.dwt(x)

    def _inn_conditions(self, coeffs: List[torch.Tensor]) -> List[torch.Tensor]:
        scaled = [c / 2 ** (level + 1) for level, c in enumerate(coeffs)]
        if self.config.variant == "paper":
            scaled[-1] = scaled[-1].flatten(1)
        return scaled

    def encode(self, x: torch.Tensor, coeffs: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """z = f(x; c) as (N, 1024, H/32, W/32) and log|det J| as (N,)."""
        z, log_det = self.inn(x, c=self._inn_conditions(coeffs))
        h, w = x.shape[-2] // self.config.multiple, x.shape[-1] // self.config.multiple
        return z.reshape(x.shape[0], LATENT_CHANNELS, h, w), log_det

    def decode(self, z: torch.Tensor, coeffs: List[torch.Tensor]) -> torch.Tensor:
        """x = f^-1(z; c) as (N, 1, H, W). ``z`` is not modified."""
        z_in = z.flatten(1) if self.config.variant == "paper" else z.clone()
        return self.inn(z_in, c=self._inn_conditions(coeffs), rev=True, jac=False)[0]

    def background_mask(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """1 on anatomy, 0 where both sources are background, a linear ramp in between.

        A pixel is background when the 3x3 neighbourhood maximum of max(a, b) is below
        ``config.background_threshold`` (intensities in [0, 1])."""
        return (box_max(torch.maximum(a, b), 3) / self.config.background_threshold).clamp(0.0, 1.0)

    def forward(self, a: torch.Tensor, b: torch.Tensor, salience: Optional[torch.Tensor] = None) -> FusionOutputs:
        """Fuse slices a (CT/PET/SPECT) and b (MRI), both (N, 1, H, W) in [0, 1]. ``salience``: the finding
        transfer's threshold per level in A's 0..1 units, shape (finding_levels,) or longer (fusion.salience); None:
        the same threshold at every level. Each slice on its own."""
        outputs, parts = self._fuse(a, b, salience)
        if parts is not None:
            outputs.fused = finish(parts)
        return outputs

    def transfer_parts(self, a: torch.Tensor, b: torch.Tensor, salience: Optional[torch.Tensor] = None
                       ) -> TransferParts:
        """The fusion of a volume's slices (as :meth:`forward`) before the headroom pedestal is taken off; needs
        config.finding_levels > 0."""
        if not self.config.finding_levels:
            raise ValueError("transfer_parts needs a model with the finding transfer (finding_levels > 0)")
        return self._fuse(a, b, salience)[1]

    def _fuse(self, a: torch.Tensor, b: torch.Tensor, salience: Optional[torch.Tensor]
              ) -> Tuple[FusionOutputs, Optional[TransferParts]]:
        """The outputs with ``fused`` before the finding transfer, and the transfer's parts (None without it)."""
        self.check_input(a)
        if a.shape != b.shape:
            raise FusionInputError(f"slice shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        coeffs_a, coeffs_b = self.conditions(a), self.conditions(b)
        z_ab, log_det_ab = self.encode(a, coeffs_b)
        z_ba, log_det_ba = self.encode(b, coeffs_a)
        z_fused = self.ram(z_ab, z_ba)
        cond_fused = max_abs_fuse(coeffs_a, coeffs_b)
        raw = self.decode(z_fused, cond_fused)
        mask = self.background_mask(a, b)
        fused = raw * mask
        if self.refine is not None:
            fused = (fused + mask * self.refine(fused, a, b)).clamp(0.0, 1.0)
        presence = source_presence(b) if self.config.source_alone else None
        if presence is not None:
            fused = keep_source_alone(fused, a, presence)
        if self.config.source_floor:
            fused = floor_at_darker_source(fused, a, b)
        outputs = FusionOutputs(fused, raw, z_ab, z_ba, z_fused, log_det_ab, log_det_ba, cond_fused)
        if not self.config.finding_levels:
            return outputs, None
        correction = finding_correction(fused, a, self.config.finding_levels, salience, self.config.finding_joint,
                                        self.config.finding_bounded_bands, mri=b)
        if presence is not None:
            correction, mask = correction * presence, mask * presence
        height = height_over_local_mean(b)
        height_a = height_on_cells(a, b)  # read by both the opposite finding and the MRI's restore
        opposite = opposite_finding(height_a, height) if self.config.finding_opposite else None
        correction = bright_detail_restored(darkening_spared(correction, height, opposite), fused, b, height, height_a,
                                            presence)
        return outputs, TransferParts(fused, correction, mask, pedestal_fields(fused, correction, a, b, height),
                                      floor_field(fused, correction, a, b), kept_hole(a, b))
