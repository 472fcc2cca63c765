"""Training loss of FusionCINN.

    L = w_int * L1(F, max(A, B))                                     intensity target
      + w_grad * L1(|grad F|, max(|grad A|, |grad B|))               gradient (detail) target
      + w_edge * L1(grad F, grad S), S = the source with the larger |grad| per pixel
                                                                      edge direction and polarity
      + w_ssim * (2 - SSIM(F, A) - SSIM(F, B))                       structure to both sources
      + w_base * L1(G * F, max(G * A, G * B)), G = Gaussian, sigma 2 px   intensity target of the base layer
      + w_qabf * (1 - Qabf(F; A, B))                                  edge transfer (Xydeas-Petrovic)
      + w_latent * MSE(z_F, f(max(A, B); c_F))                       inverse (latent-domain) term
      + w_ml * mean_{A|B, B|A}(||z||^2 / 2 - log|det J|) / D          maximum likelihood, per value

F is the fused image (after the background mask), images in [0, 1]. The first three form the
paper's forward (image) term, whose target the paper leaves undefined; the weights are chosen by
the ablation in the README's Method section. Where a PET/SPECT source is saturated (A >= 1 - 0.5/255:
a hot focus clipped by its intensity window) the gradient, edge and Qabf terms are weighted by
w_saturated: the fused image must sit at the top of the range there, so the MRI's detail could
only show by darkening the hot focus (a hot lesion would turn into a ring). Saturated CT (bone)
keeps full weight: there the MRI's detail is wanted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from ..network.fusion_net import FusionOutputs

PixelWeight = Union[float, torch.Tensor]
SATURATED = 1.0 - 0.5 / 255.0
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms, and ``saturated``, the weight of the gradient-based terms in saturated
    pixels (see the module docstring)."""

    intensity: float = 1.0
    gradient: float = 1.0
    edge: float = 10.0
    ssim: float = 1.0
    base: float = 0.0
    qabf: float = 0.0
    latent: float = 0.0
    likelihood: float = 1e-3
    saturated: float = 1.0

    def to_dict(self) -> Dict[str, float]:
        return asdict(self)


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=None) -> torch.Tensor:
    """(1, 1, size, size) normalised Gaussian kernel."""
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5) of (N, 1, H, W) images, per image (N,)."""
    window = _gaussian_window(device=x.device, dtype=x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x ** 2
    syy = blur(y * y) - mu_y ** 2
    sxy = blur(x * y) - mu_x * mu_y
    value = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return value.flatten(1).mean(1)


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


def base_term(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the Gaussian-blurred (sigma 2 px) fused image and the per-pixel maximum of
    the blurred sources: the brighter source sets the base intensity of a region, while the fine detail
    inside it is left to the gradient, edge and Qabf terms. All (N, 1, H, W)."""
    window = _gaussian_window(9, 2.0, fused.device, fused.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (4, 4, 4, 4), mode="replicate"), window)

    return (blur(fused) - torch.maximum(blur(a), blur(b))).abs().mean()


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
        g_s = g_s * pixel_weight
        strength = torch.minimum(g_s, g_f) / torch.maximum(g_s, g_f)
        orientation = 1.0 - (o_s - o_f).abs() / (math.pi / 2)
        q_g = QABF_G[0] / (1.0 + torch.exp(QABF_G[1] * (strength - QABF_G[2])))
        q_a = QABF_A[0] / (1.0 + torch.exp(QABF_A[1] * (orientation - QABF_A[2])))
        total = total + (q_g * q_a * g_s).flatten(1).sum(1)
        weights = weights + g_s.flatten(1).sum(1)
    return total / weights.clamp_min(1e-12)


def likelihood_term(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per value under a standard normal prior (constant dropped), mean over N."""
    dims = z[0].numel()
    return ((0.5 * z.flatten(1).pow(2).sum(1) - log_det) / dims).mean()


def saturation_weight(a: torch.Tensor, functional: Optional[torch.Tensor], weight: float) -> PixelWeight:
    """Per-pixel weight of the gradient-based terms for (N, 1, H, W) sources ``a``: ``weight`` where a is
    saturated in the pairs flagged by ``functional`` ((N,) bool: a is PET/SPECT; None: every pair), else 1."""
    if weight == 1.0:
        return 1.0
    saturated = a >= SATURATED
    if functional is not None:
        saturated = saturated & functional.to(torch.bool).view(-1, 1, 1, 1)
    return torch.where(saturated, weight, 1.0).to(a.dtype)


def fusion_loss(out: FusionOutputs, a: torch.Tensor, b: torch.Tensor, weights: LossWeights,
                latent_target: Optional[torch.Tensor] = None, functional: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
    """Every term (unweighted) and their weighted sum under "total". ``functional``: (N,) bool, which
    pairs' source a is PET/SPECT (None: all), for the saturated-pixel weight."""
    fused = out.fused
    target = torch.maximum(a, b)
    pixel_weight = saturation_weight(a, functional, weights.saturated)
    terms = {
        "intensity": (fused - target).abs().mean(),
        "gradient": (pixel_weight * (gradient_magnitude(fused) - torch.maximum(gradient_magnitude(a),
                                                                            gradient_magnitude(b))).abs()).mean(),
        "edge": edge_term(fused, a, b, pixel_weight),
        "ssim": (2.0 - ssim(fused, a) - ssim(fused, b)).mean(),
        "base": base_term(fused, a, b) if weights.base > 0 else torch.zeros((), device=fused.device),
        "qabf": (1.0 - qabf(fused, a, b, pixel_weight)).mean() if weights.qabf > 0 else torch.zeros((), device=fused.device),
        "likelihood": 0.5 * (likelihood_term(out.z_ab, out.log_det_ab) + likelihood_term(out.z_ba, out.log_det_ba)),
    }
    terms["latent"] = (F.mse_loss(out.z_fused, latent_target) if latent_target is not None
                       else torch.zeros((), device=fused.device))
    w = weights.to_dict()
    terms["total"] = sum(w[name] * terms[name] for name in terms)
    return terms
