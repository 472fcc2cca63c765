"""Finding transfer: put back the salient local contrast of source A (CT/PET/SPECT) that the fused
image lacks, so that a focal finding only A shows (a calcification, a hot or cold focus) is not
averaged away.

The cINN's latent mean halves a signal that one source alone has, and its inverse pass follows the
MRI's structure: on inserted findings the shipped networks kept about 40 % of a CT or PET finding's
contrast, against 95 % of an MRI one (docs/findings.md). This stage works on Laplacian pyramids
(Burt & Adelson, 5-tap binomial kernel) of the fused image F and of A, level by level:

    E_A     = sqrt(G * L_A^2)                         local contrast energy of A (G: Gaussian, sigma 1.5 px)
    c       = clip((G * (L_F L_A)) / max(G * L_A^2, eps^2), -1, 1)   (eps = 0.005)
                                                      how much of A's local structure F carries (1: all
                                                      of it, 0: none, < 0: the opposite, e.g. the MRI's
                                                      dark spot where the CT has a calcification: A's
                                                      sign wins where A has contrast)
    g       = clip(E_A / 0.02 - 1, 0, 1)              salience: 0 where A's local contrast is under 0.02
                                                      (5 grey levels of 255), 1 from 0.04
    L_F'    = L_F + g (1 - c) L_A                     F's component along A's local structure becomes A's

and the base (the coarsest low-pass) stays F's. The correction replaces only F's component along
A's local structure (the rest of F, such as the MRI's texture around a finding, stays), it acts
only where A has contrast, and where F already carries A's structure (c = 1) it changes nothing.
It has no trained parameters and is differentiable, so a network can be trained through it.
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F

BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)
ENERGY_SIGMA = 1.5
ENERGY_RADIUS = 4
EPS = 0.005
MIN_LEVEL_SIDE = 4
SALIENT_ENERGY = 0.02
CARRIED_MIN = -1.0


def _separable(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve (N, 1, H, W) with ``kernel`` (K,) along both axes, reflected borders."""
    r = kernel.numel() // 2
    k = kernel.to(x.dtype)
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))


def _binomial(device: torch.device) -> torch.Tensor:
    kernel = torch.tensor(BINOMIAL, device=device)
    return kernel / kernel.sum()


def _gaussian(device: torch.device) -> torch.Tensor:
    offsets = torch.arange(-ENERGY_RADIUS, ENERGY_RADIUS + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (offsets / ENERGY_SIGMA) ** 2)
    return kernel / kernel.sum()


def _expand(x: torch.Tensor, shape: torch.Size, kernel: torch.Tensor) -> torch.Tensor:
    """Zero-insert upsampling of (N, 1, h, w) to ``shape`` (each side 2h or 2h - 1), then blur x4."""
    up = x.new_zeros(shape)
    up[..., ::2, ::2] = x
    return _separable(up, kernel) * 4.0


def laplacian_pyramid(x: torch.Tensor, levels: int) -> List[torch.Tensor]:
    """``levels`` band-pass images of (N, 1, H, W), finest first, then the low-pass base; exactly
    inverted by :func:`collapse`."""
    kernel = _binomial(x.device)
    pyramid = []
    current = x
    for _ in range(levels):
        smaller = _separable(current, kernel)[..., ::2, ::2]
        pyramid.append(current - _expand(smaller, current.shape, kernel))
        current = smaller
    pyramid.append(current)
    return pyramid


def collapse(pyramid: List[torch.Tensor]) -> torch.Tensor:
    """The image of a Laplacian pyramid (inverse of :func:`laplacian_pyramid`)."""
    kernel = _binomial(pyramid[0].device)
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + _expand(image, band.shape, kernel)
    return image


def usable_levels(height: int, width: int, levels: int) -> int:
    """``levels``, or fewer so that the coarsest band-pass level is at least 4 pixels a side."""
    side = min(height, width)
    usable = 0
    while usable < levels and side // 2 ** usable >= 2 * MIN_LEVEL_SIDE:
        usable += 1
    return usable


def _salience(energy: torch.Tensor) -> torch.Tensor:
    """g per pixel: 0 where A's local contrast energy is under ``SALIENT_ENERGY``, 1 from twice that."""
    return (energy / SALIENT_ENERGY - 1.0).clamp(0.0, 1.0)


def finding_correction(fused: torch.Tensor, a: torch.Tensor, levels: int) -> torch.Tensor:
    """The image to add to ``fused`` (N, 1, H, W) so that A's salient local contrast it lacks is put
    back (module doc); same shape, 0..1 units, before any clipping. ``levels`` 0 gives zeros."""
    levels = usable_levels(fused.shape[-2], fused.shape[-1], levels)
    if levels == 0:
        return torch.zeros_like(fused)
    gaussian = _gaussian(fused.device)
    pyramids = [laplacian_pyramid(x, levels) for x in (fused, a)]
    added = []
    for band_f, band_a in zip(*(p[:-1] for p in pyramids)):
        power = _separable(band_a * band_a, gaussian)
        carried = (_separable(band_f * band_a, gaussian) / power.clamp_min(EPS * EPS)).clamp(CARRIED_MIN, 1.0)
        salience = _salience(power.clamp_min(0.0).sqrt())
        added.append(salience * (1.0 - carried) * band_a)
    added.append(torch.zeros_like(pyramids[0][-1]))
    return collapse(added)
