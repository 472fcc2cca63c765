"""Training loss of FusionCINN.

    L = w_int * L1(F, max(A, B))                                     intensity target
      + w_grad * L1(|grad F|, max(|grad A|, |grad B|))               gradient (detail) target
      + w_edge * L1(grad F, grad S), S = the source with the larger |grad| per pixel
                                                                      edge direction and polarity
      + w_ssim * (2 - SSIM(F, A) - SSIM(F, B))                       structure to both sources
      + w_latent * MSE(z_F, f(max(A, B); c_F))                       inverse (latent-domain) term
      + w_ml * mean_{A|B, B|A}(||z||^2 / 2 - log|det J|) / D          maximum likelihood, per value

F is the fused image (after the background mask), images in [0, 1]. The first three form the
paper's forward (image) term, whose target the paper leaves undefined; the weights are chosen by
the ablation in the README's Method section.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Tuple

import torch
import torch.nn.functional as F

from ..network.fusion_net import FusionOutputs

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (see the module docstring)."""

    intensity: float = 1.0
    gradient: float = 1.0
    edge: float = 10.0
    ssim: float = 1.0
    latent: float = 0.0
    likelihood: float = 1e-3

    def to_dict(self) -> Dict[str, float]:
        return asdict(self)


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=None) -> torch.Tensor:
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


def edge_term(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the Sobel gradient vector of ``fused`` and, per pixel, that of the
    source with the larger gradient magnitude: edges keep their strength, direction and polarity
    (what Qabf measures). All (N, 1, H, W)."""
    (fx, fy), (ax, ay), (bx, by) = sobel(fused), sobel(a), sobel(b)
    take_a = ax * ax + ay * ay >= bx * bx + by * by
    return ((fx - torch.where(take_a, ax, bx)).abs() + (fy - torch.where(take_a, ay, by)).abs()).mean()


def likelihood_term(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per value under a standard normal prior (constant dropped), mean over N."""
    dims = z[0].numel()
    return ((0.5 * z.flatten(1).pow(2).sum(1) - log_det) / dims).mean()


def fusion_loss(out: FusionOutputs, a: torch.Tensor, b: torch.Tensor, weights: LossWeights,
                latent_target: torch.Tensor = None) -> Dict[str, torch.Tensor]:
    """Every term (unweighted) and their weighted sum under "total"."""
    fused = out.fused
    target = torch.maximum(a, b)
    terms = {
        "intensity": (fused - target).abs().mean(),
        "gradient": (gradient_magnitude(fused) - torch.maximum(gradient_magnitude(a), gradient_magnitude(b))
                     ).abs().mean(),
        "edge": edge_term(fused, a, b),
        "ssim": (2.0 - ssim(fused, a) - ssim(fused, b)).mean(),
        "likelihood": 0.5 * (likelihood_term(out.z_ab, out.log_det_ab) + likelihood_term(out.z_ba, out.log_det_ba)),
    }
    terms["latent"] = (F.mse_loss(out.z_fused, latent_target) if latent_target is not None
                       else torch.zeros((), device=fused.device))
    w = weights.to_dict()
    terms["total"] = sum(w[name] * terms[name] for name in w)
    return terms
