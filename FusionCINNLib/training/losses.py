"""Training loss of FusionCINN.

    L = w_int * L1(F, T)                                             intensity target
      + w_grad * L1(|grad F|, max(|grad A|, |grad B|))               gradient (detail) target
      + w_edge * L1(grad F, grad S), S = the source with the larger |grad| per pixel
                                                                      edge direction and polarity
      + w_ssim * (2 - SSIM(F, A) - SSIM(F, B))                       structure to both sources
      + w_qabf * (1 - Qabf(F; A, B))                                  edge transfer (Xydeas-Petrovic)
      + w_vif * (2 - VIF(A, F) - VIF(B, F))                           visual information (Sheikh-Bovik)
      + w_latent * MSE(z_F, f(max(A, B); c_F))                       inverse (latent-domain) term
      + w_ml * mean_{A|B, B|A}(||z||^2 / 2 - log|det J|) / D          maximum likelihood, per value
      + w_lesion * mean_lesions(relu(1 - C(F) / C(S)))                 synthetic lesions kept
        (C = mean over the lesion's core - mean over its shell; S = the source it was painted into:
        A, or the MRI for an MRI-only lesion; lesions with |C(S)| < 0.08 are left out)
      + w_imprint * mean_lesions(relu(1 - C(F - F0) / C(S - S0)))       synthetic lesions' imprint
        (F0, S0 = the fused image and the source of the same pair before the lesion was painted: the
        lesion's own contrast, with the anatomy around it cancelled, as the findings benchmark scores it;
        with w_imprint_overshoot, each lesion also adds that times relu(C(F - F0) / C(S - S0) - 1), its gain over 1)
      + w_imprint_mri * the same over the MRI's own lesions alone
      + w_grid * mean_{every 16th row and column}(relu(|K(F)| - max(|K(A)|, |K(B)|)))  block grid
        (K = the step across the line, x[p] - x[p-1], less the mean of the steps on either side: a kink
        the cINN's Haar blocks of 16 and 32 px leave in F where neither source has one)

F is the fused image (after the background mask), images in [0, 1]. The intensity target T is
max(A, B) with the low-pass base of its 5-level Laplacian pyramid moved by ``base_mean`` (0 to 1) to
the base of the mean of the sources that show anatomy (above 0.05) at each pixel: at 0 the fused
image's brightness is the brighter source's, at 1 its coarse brightness is the sources' average where
both show anatomy (as in a Laplacian-pyramid fusion) and the one source's where the other is air,
while its detail stays max(A, B)'s, which leaves room under white for a bright finding the fusion
adds (0 by default; docs/findings.md, "Fourth round" and "Fifth round"). The first three terms form
the paper's forward (image) term, whose target the paper leaves undefined; the weights are chosen by
the loss and architecture ablation in docs/results.md. Saturated pixels (A >= 1 - 0.5/255, clipped by
the source's intensity window) carry no detail of A, and are weighted by what they are:
- PET/SPECT (a hot focus): the gradient, edge and Qabf terms, and SSIM(F, B) and VIF(B, F), get
  weight w_hot_detail there (SSIM and VIF: the windows centred there). The fused image must stay
  at the top of the range, so the MRI's detail could only show by darkening the focus, and a hot
  lesion would turn into a ring (which reads as necrosis).
- CT (bone): the intensity term gets weight w_bone_intensity there, so the MRI's detail inside
  the bone (marrow, scalp, dura) can show as it does in a Laplacian-pyramid fusion.
Where one source shows anatomy (above 0.05) and the other is air, the intensity term gets weight
w_one_source (1 by default), so that the fused image keeps that source's brightness there; with
``one_source_mri`` over 0.05 also where A shows anatomy and the MRI is dark (under that value).
With ``other_at_lesion`` under 1, SSIM and VIF against the source a synthetic lesion was not painted into get that
weight inside the lesion's zone (out to its shell's outer edge): there they would ask the fused image to look like
the source without the lesion (docs/findings.md, "Twenty-sixth round").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from ..metrics.similarity import VIF_EPS, VIF_NOISE_VARIANCE, VIF_SCALES
from ..network.finding_transfer import collapse, laplacian_pyramid, usable_levels
from ..network.fusion_net import FusionOutputs
from .data import LesionMasks

PixelWeight = Union[float, torch.Tensor]
SATURATED = 1.0 - 0.5 / 255.0
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms, two per-pixel weights in saturated pixels: ``hot_detail`` for the
    gradient-based terms, SSIM(F, B) and VIF(B, F) where PET/SPECT is saturated, ``bone_intensity`` for
    the intensity term where CT is, ``one_source`` for the intensity term where only one source shows
    anatomy (or A does and the MRI is under ``one_source_mri``, 0..1), ``base_mean`` (0 to 1), how far the
    intensity target's coarse base moves from max(A, B)'s to the sources' mean (see the module docstring),
    and ``other_at_lesion``, the weight of SSIM and VIF against the source a synthetic lesion was not painted into
    within its zone (:func:`lesion_zone`)."""

    intensity: float = 1.0
    gradient: float = 1.0
    edge: float = 10.0
    ssim: float = 1.0
    qabf: float = 0.0
    vif: float = 0.0
    latent: float = 0.0
    likelihood: float = 1e-3
    lesion: float = 0.0
    imprint: float = 0.0
    imprint_mri: float = 0.0
    imprint_overshoot: float = 0.0
    hot_detail: float = 1.0
    bone_intensity: float = 1.0
    base_mean: float = 0.0
    one_source: float = 1.0
    one_source_mri: float = 0.05
    grid: float = 0.0
    other_at_lesion: float = 1.0

    def to_dict(self) -> Dict[str, float]:
        return asdict(self)


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=None) -> torch.Tensor:
    """(1, 1, size, size) normalised Gaussian kernel."""
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, pixel_weight: PixelWeight = 1.0
         ) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5) of (N, 1, H, W) images, per image (N,).
    A (N, 1, H, W) ``pixel_weight`` weights each window by the value at its centre."""
    window = _gaussian_window(device=x.device, dtype=x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x ** 2
    syy = blur(y * y) - mu_y ** 2
    sxy = blur(x * y) - mu_x * mu_y
    value = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    if not isinstance(pixel_weight, torch.Tensor):
        return value.flatten(1).mean(1)
    half = window.shape[-1] // 2
    centre = pixel_weight[..., half:-half, half:-half]
    return (value * centre).flatten(1).sum(1) / centre.flatten(1).sum(1).clamp_min(1e-12)


def sobel(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sobel derivatives (d/dx, d/dy) of (N, 1, H, W) images (replicate padding), each same shape."""
    kx = SOBEL_X.to(x.device, x.dtype)[None, None]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kx), F.conv2d(padded, kx.transpose(-1, -2))


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of (N, 1, H, W) images (replicate padding), same shape."""
    gx, gy = sobel(x)
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


def edge_term(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor, pixel_weight: PixelWeight = 1.0
              ) -> torch.Tensor:
    """Mean (``pixel_weight``-weighted) L1 distance between the Sobel gradient vector of ``fused`` and, per
    pixel, that of the source with the larger gradient magnitude: edges keep their strength, direction
    and polarity (what Qabf measures). All (N, 1, H, W)."""
    (fx, fy), (ax, ay), (bx, by) = sobel(fused), sobel(a), sobel(b)
    take_a = ax * ax + ay * ay >= bx * bx + by * by
    distance = (fx - torch.where(take_a, ax, bx)).abs() + (fy - torch.where(take_a, ay, by)).abs()
    return (pixel_weight * distance).mean()


QABF_G = (0.9994, -15.0, 0.5)
QABF_A = (0.9879, -22.0, 0.8)


def _strength_orientation(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sobel strength and orientation arctan(d/dy / d/dx) in (-pi/2, pi/2] (pi/2 where d/dx = 0),
    with finite gradients everywhere (pixels without any gradient pass none back)."""
    gx, gy = sobel(x)
    flat = gx * gx + gy * gy < 1e-12
    safe_x, safe_y = torch.where(flat, torch.ones_like(gx), gx), torch.where(flat, torch.zeros_like(gy), gy)
    angle = torch.atan2(safe_y, safe_x)
    angle = angle - math.pi * (angle > math.pi / 2) + math.pi * (angle <= -math.pi / 2)
    angle = torch.where(flat, torch.full_like(angle, math.pi / 2), angle)
    return torch.sqrt(gx * gx + gy * gy + 1e-12), angle


def qabf(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor, pixel_weight: PixelWeight = 1.0
         ) -> torch.Tensor:
    """Xydeas-Petrovic Qabf of (N, 1, H, W) images, per image (N,), differentiable; with the default
    ``pixel_weight`` equal to :func:`FusionCINNLib.metrics.qabf` (same constants, Sobel with replicated
    borders, weights g^1), else each pixel's weights g are multiplied by it."""
    g_f, o_f = _strength_orientation(fused)
    total, weights = 0.0, 0.0
    for source in (a, b):
        g_s, o_s = _strength_orientation(source)
        strength = torch.minimum(g_s, g_f) / torch.maximum(g_s, g_f)
        orientation = 1.0 - (o_s - o_f).abs() / (math.pi / 2)
        q_g = QABF_G[0] / (1.0 + torch.exp(QABF_G[1] * (strength - QABF_G[2])))
        q_a = QABF_A[0] / (1.0 + torch.exp(QABF_A[1] * (orientation - QABF_A[2])))
        weight = g_s * pixel_weight
        total = total + (q_g * q_a * weight).flatten(1).sum(1)
        weights = weights + weight.flatten(1).sum(1)
    return total / weights.clamp_min(1e-12)


def _filter_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable filtering of (N, 1, H, W) keeping fully covered pixels: (N, 1, H - k + 1, W - k + 1)."""
    k = kernel.to(x.device, x.dtype)
    return F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))


def vifp(reference: torch.Tensor, distorted: torch.Tensor, pixel_weight: PixelWeight = 1.0) -> torch.Tensor:
    """Pixel-domain multi-scale VIF (Sheikh & Bovik) of (N, 1, H, W) images on the 0-255 scale, per image
    (N,), differentiable; with the default ``pixel_weight`` equal to
    :func:`FusionCINNLib.metrics.similarity.vifp` (same windows, noise variance and flat-region rules),
    else each first-scale window's information is weighted by the value at its centre (H, W >= 41)."""
    ref, dist = reference, distorted
    weight = pixel_weight if isinstance(pixel_weight, torch.Tensor) else None
    num = den = 0.0
    for scale in range(1, VIF_SCALES + 1):
        size = 2 ** (VIF_SCALES - scale + 1) + 1
        coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        window = torch.exp(-coords ** 2 / (2 * (size / 5.0) ** 2))
        window = window / window.sum()
        if scale > 1:
            ref = _filter_valid(ref, window)[..., ::2, ::2]
            dist = _filter_valid(dist, window)[..., ::2, ::2]
            weight = None if weight is None else _filter_valid(weight, window)[..., ::2, ::2]
        mu1, mu2 = _filter_valid(ref, window), _filter_valid(dist, window)
        sigma1_sq = (_filter_valid(ref * ref, window) - mu1 * mu1).clamp_min(0.0)
        sigma2_sq = (_filter_valid(dist * dist, window) - mu2 * mu2).clamp_min(0.0)
        sigma12 = _filter_valid(ref * dist, window) - mu1 * mu2
        g = sigma12 / (sigma1_sq + VIF_EPS)
        sv_sq = sigma2_sq - g * sigma12
        flat_ref = sigma1_sq < VIF_EPS
        flat_dist = sigma2_sq < VIF_EPS
        negative = g < 0
        sv_sq = torch.where(flat_ref | negative, sigma2_sq, sv_sq)
        sv_sq = torch.where(flat_dist & ~flat_ref & ~negative, torch.zeros_like(sv_sq), sv_sq)
        g = torch.where(flat_ref | flat_dist | negative, torch.zeros_like(g), g)
        sigma1_sq = torch.where(flat_ref, torch.zeros_like(sigma1_sq), sigma1_sq)
        sv_sq = sv_sq.clamp_min(VIF_EPS)
        gained = torch.log10(1.0 + g * g * sigma1_sq / (sv_sq + VIF_NOISE_VARIANCE))
        possible = torch.log10(1.0 + sigma1_sq / VIF_NOISE_VARIANCE)
        if weight is not None:
            half = (size - 1) // 2
            centre = weight[..., half:weight.shape[-2] - half, half:weight.shape[-1] - half]
            gained, possible = gained * centre, possible * centre
        num = num + gained.flatten(1).sum(1)
        den = den + possible.flatten(1).sum(1)
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.ones_like(den))


BASE_LEVELS = 5
PRESENT = 0.05
"""A source at or above this value (0..1) shows anatomy there; below it, its share in the mean falls
linearly to 0 (air, or outside its field of view)."""


def mean_of_present(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per pixel, the mean of the sources that show anatomy there (each weighted by min(x / PRESENT, 1)):
    (A + B) / 2 where both reach PRESENT, the one source's value where the other is 0, 0 where both are."""
    weight_a, weight_b = (a / PRESENT).clamp(0.0, 1.0), (b / PRESENT).clamp(0.0, 1.0)
    return (weight_a * a + weight_b * b) / (weight_a + weight_b).clamp_min(1e-6)


def one_source_weight(a: torch.Tensor, b: torch.Tensor, weight: float, mri_dark: float = PRESENT) -> PixelWeight:
    """Per-pixel weight for the intensity term of (N, 1, H, W) sources in [0, 1]: ``weight`` where one source
    shows anatomy (at least PRESENT) and the other is air, or A does and the MRI ``b`` is under ``mri_dark`` (at
    least PRESENT; PRESENT: air only), so that the fused image keeps that source's brightness there; else 1."""
    if weight == 1.0:
        return 1.0
    alone = ((a >= PRESENT) & (b < max(mri_dark, PRESENT))) | ((b >= PRESENT) & (a < PRESENT))
    return torch.where(alone, weight, 1.0).to(a.dtype)


GRID_PERIOD = 16
"""The grid term's line spacing (px): the cINN's Haar blocks are 16 and 32 px (network.haar_downsampling)."""


def _kinks(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Along ``dim`` of (N, 1, H, W) ``x``: at every ``GRID_PERIOD``-th line p (p - 1 >= 1, p + 1 inside), the step
    into it, x[p] - x[p-1], less the mean of the steps before and after it."""
    steps = x.diff(dim=dim)
    lines = torch.arange(GRID_PERIOD - 1, steps.shape[dim] - 1, GRID_PERIOD, device=x.device)
    before, across, after = (steps.index_select(dim, lines + offset) for offset in (-1, 0, 1))
    return across - 0.5 * (before + after)


def grid_term(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The block grid of (N, 1, H, W) ``fused`` against its sources ``a``, ``b`` (0..1): over every
    ``GRID_PERIOD``-th row and column of the patch, the mean of relu(|K(F)| - max(|K(A)|, |K(B)|)), K = the kink
    across the line (:func:`_kinks`), summed over the two directions; 0 where F has no kink there that the sources
    lack."""
    total = torch.zeros((), device=fused.device)
    for dim in (-1, -2):
        kink_f, kink_a, kink_b = (_kinks(x, dim) for x in (fused, a, b))
        total = total + (kink_f.abs() - torch.maximum(kink_a.abs(), kink_b.abs())).clamp_min(0.0).mean()
    return total


def intensity_target(a: torch.Tensor, b: torch.Tensor, base_mean: float = 0.0) -> torch.Tensor:
    """The intensity term's target for (N, 1, H, W) sources in [0, 1]: max(A, B), with the low-pass base
    of its Laplacian pyramid (5 levels, fewer on a small image) moved by ``base_mean`` (0 to 1) towards
    the base of :func:`mean_of_present` (the sources' mean where both show anatomy, so a PET or CT with
    nothing in the MRI there keeps its brightness); same shape, max(A, B) itself when ``base_mean`` is 0.
    The pyramid is linear, so this adds ``base_mean`` times the expanded base of one pyramid, that of
    mean_of_present(A, B) - max(A, B)."""
    brighter = torch.maximum(a, b)
    levels = usable_levels(a.shape[-2], a.shape[-1], BASE_LEVELS)
    if base_mean == 0.0 or levels == 0:
        return brighter
    pyramid = laplacian_pyramid(mean_of_present(a, b) - brighter, levels)
    base_only = [torch.zeros_like(band) for band in pyramid[:-1]] + pyramid[-1:]
    return brighter + base_mean * collapse(base_only)


LESION_MIN_CONTRAST = 0.08


def _mean_in(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (N, 1, H, W) ``x`` over each image's 0/1 ``mask``, (N,) (0 where the mask is empty)."""
    return (x * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)


def _contrast_shortfall(fused: torch.Tensor, source: torch.Tensor, lesions: LesionMasks,
                        only: Optional[torch.Tensor] = None, overshoot: float = 0.0) -> torch.Tensor:
    """Mean over the lesions of relu(1 - k) + ``overshoot`` relu(k - 1), k = C(fused) / C(source), C = mean over
    the core - mean over the shell, lesions whose |C(source)| is under LESION_MIN_CONTRAST left out (and those
    ``only``, (N,) bool, does not flag); 0 without a lesion. (N, 1, H, W) images."""
    contrast_source = _mean_in(source, lesions.core) - _mean_in(source, lesions.shell)
    contrast_fused = _mean_in(fused, lesions.core) - _mean_in(fused, lesions.shell)
    counted = lesions.painted & (lesions.shell.flatten(1).sum(1) > 0) & (contrast_source.abs() >= LESION_MIN_CONTRAST)
    if only is not None:
        counted = counted & only.to(counted.device)
    if not bool(counted.any()):
        return torch.zeros((), device=fused.device)
    kept = contrast_fused[counted] / contrast_source[counted]
    return ((1.0 - kept).clamp_min(0.0) + overshoot * (kept - 1.0).clamp_min(0.0)).mean()


def lesion_term(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor, lesions: LesionMasks) -> torch.Tensor:
    """Mean shortfall of the synthetic lesions' contrast in ``fused`` against their source's (module
    docstring): 0 when every lesion keeps all its contrast (or more), 1 when none is left, over 1 when
    it has the wrong sign; 0 without a lesion. All images (N, 1, H, W) in [0, 1]."""
    source = torch.where(lesions.in_b.view(-1, 1, 1, 1).to(a.device), b, a)
    return _contrast_shortfall(fused, source, lesions)


def imprint_term(fused: torch.Tensor, fused_before: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                 lesions: LesionMasks, mri_only: bool = False, overshoot: float = 0.0) -> torch.Tensor:
    """Mean shortfall of the synthetic lesions' imprint: the contrast (core - shell) of ``fused`` minus
    ``fused_before`` (the fusion of the pair before painting) against that of the painted source (``a``, or
    ``b`` for an MRI-only lesion) minus itself before painting; 0 when every lesion's own contrast passes
    whole, 1 when none does, over 1 for the wrong sign; 0 without a lesion or without the pair before
    painting; with ``mri_only``, over the MRI's own lesions alone; ``overshoot`` > 0 also counts that much of
    what a lesion's imprint has over its source's (a gain over 1). All images (N, 1, H, W) in [0, 1]."""
    if lesions.a_before is None or lesions.b_before is None:
        return torch.zeros((), device=fused.device)
    in_b = lesions.in_b.view(-1, 1, 1, 1).to(fused.device)
    painted = torch.where(in_b, b - lesions.b_before, a - lesions.a_before)
    return _contrast_shortfall(fused - fused_before, painted, lesions, lesions.in_b if mri_only else None, overshoot)


def lesion_zone(lesions: LesionMasks) -> torch.Tensor:
    """(N, 1, H, W) 0/1 mask of each painted lesion's zone: the disc around its core's centroid out to its
    shell's outer edge (+0.5 px), all of it under the lesion's own contrast; empty where no lesion was painted."""
    core, shell = lesions.core, lesions.shell
    h, w = core.shape[-2:]
    rows = torch.arange(h, device=core.device, dtype=core.dtype).view(1, 1, h, 1)
    cols = torch.arange(w, device=core.device, dtype=core.dtype).view(1, 1, 1, w)
    count = core.flatten(1).sum(1).clamp_min(1.0).view(-1, 1, 1, 1)
    centre_r = (core * rows).flatten(1).sum(1).view(-1, 1, 1, 1) / count
    centre_c = (core * cols).flatten(1).sum(1).view(-1, 1, 1, 1) / count
    distance = torch.sqrt((rows - centre_r) ** 2 + (cols - centre_c) ** 2)
    outer = (distance * shell).flatten(1).amax(1).view(-1, 1, 1, 1)
    painted = lesions.painted.view(-1, 1, 1, 1).to(core.device)
    return ((distance <= outer + 0.5) & painted).to(core.dtype)


def other_source_weights(lesions: Optional[LesionMasks], weight: float, like: torch.Tensor
                         ) -> Tuple[PixelWeight, PixelWeight]:
    """Per-pixel weights (for A's, for B's SSIM and VIF terms) of (N, 1, H, W) pairs like ``like``: ``weight``
    within a lesion's zone (:func:`lesion_zone`) for the source it was not painted into (B for A's lesion, A for
    the MRI's own), else 1; (1.0, 1.0) when ``weight`` is 1 or there is no lesion."""
    if weight == 1.0 or lesions is None or not bool(lesions.painted.any()):
        return 1.0, 1.0
    zone = lesion_zone(lesions)
    in_b = lesions.in_b.view(-1, 1, 1, 1).to(like.device)
    for_a = torch.where(in_b & (zone > 0), weight, 1.0).to(like.dtype)
    for_b = torch.where(~in_b & (zone > 0), weight, 1.0).to(like.dtype)
    return for_a, for_b


def likelihood_term(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per value under a standard normal prior (constant dropped), mean over N."""
    dims = z[0].numel()
    return ((0.5 * z.flatten(1).pow(2).sum(1) - log_det) / dims).mean()


def saturation_weight(a: torch.Tensor, selected: Optional[torch.Tensor], weight: float) -> PixelWeight:
    """Per-pixel weight for (N, 1, H, W) sources ``a``: ``weight`` where a is saturated in the pairs
    flagged by ``selected`` ((N,) bool; None: every pair), else 1."""
    if weight == 1.0:
        return 1.0
    saturated = a >= SATURATED
    if selected is not None:
        saturated = saturated & selected.to(torch.bool).view(-1, 1, 1, 1)
    return torch.where(saturated, weight, 1.0).to(a.dtype)


def fusion_loss(out: FusionOutputs, a: torch.Tensor, b: torch.Tensor, weights: LossWeights,
                latent_target: Optional[torch.Tensor] = None, functional: Optional[torch.Tensor] = None,
                lesions: Optional[LesionMasks] = None, fused_before: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
    """Every term (unweighted) and their weighted sum under "total". ``functional``: (N,) bool, which
    pairs' source a is PET/SPECT, the others' being CT (None: all PET/SPECT); ``lesions``: where the
    batch's synthetic lesions are (the lesion terms are 0 without them); ``fused_before``: the fusion of
    each pair before its lesion was painted (the imprint term is 0 without it)."""
    fused = out.fused
    target = intensity_target(a, b, weights.base_mean)
    weight_a, weight_b = other_source_weights(lesions, weights.other_at_lesion, fused)
    pixel_weight = saturation_weight(a, functional, weights.hot_detail)
    is_ct = None if functional is None else ~functional.to(torch.bool)
    bone_weight = saturation_weight(a, is_ct, weights.bone_intensity) if is_ct is not None else 1.0
    intensity_weight = bone_weight * one_source_weight(a, b, weights.one_source, weights.one_source_mri)
    zero = torch.zeros((), device=fused.device)
    detail_target = torch.maximum(gradient_magnitude(a), gradient_magnitude(b))
    terms = {
        "intensity": (intensity_weight * (fused - target).abs()).mean(),
        "gradient": (pixel_weight * (gradient_magnitude(fused) - detail_target).abs()).mean(),
        "edge": edge_term(fused, a, b, pixel_weight),
        "ssim": (2.0 - ssim(fused, a, pixel_weight=weight_a)
                 - ssim(fused, b, pixel_weight=pixel_weight * weight_b)).mean(),
        "qabf": (1.0 - qabf(fused, a, b, pixel_weight)).mean() if weights.qabf > 0 else zero,
        "vif": (2.0 - vifp(255.0 * a, 255.0 * fused, weight_a)
                - vifp(255.0 * b, 255.0 * fused, pixel_weight * weight_b)).mean()
        if weights.vif > 0 else zero,
        "lesion": lesion_term(fused, a, b, lesions) if weights.lesion > 0 and lesions is not None else zero,
        "imprint": imprint_term(fused, fused_before, a, b, lesions, overshoot=weights.imprint_overshoot)
        if weights.imprint > 0 and lesions is not None and fused_before is not None else zero,
        "imprint_mri": imprint_term(fused, fused_before, a, b, lesions, True, weights.imprint_overshoot)
        if weights.imprint_mri > 0 and lesions is not None and fused_before is not None else zero,
        "likelihood": 0.5 * (likelihood_term(out.z_ab, out.log_det_ab) + likelihood_term(out.z_ba, out.log_det_ba)),
        "grid": grid_term(fused, a, b) if weights.grid > 0 else zero,
    }
    terms["latent"] = F.mse_loss(out.z_fused, latent_target) if latent_target is not None else zero
    w = weights.to_dict()
    terms["total"] = sum(w[name] * terms[name] for name in terms)
    return terms
