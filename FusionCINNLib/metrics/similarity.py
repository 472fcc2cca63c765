"""Source-to-fused similarity metrics: SCD, SSIM, VIF.

Inputs: 2D arrays of one shape (H, W) on the 0-255 grey scale (uint8 range).
"""

from __future__ import annotations

import numpy as np

from ._common import as_grey, as_triple, filter_valid, gaussian_kernel_1d

SSIM_WINDOW = gaussian_kernel_1d(11, 1.5)
SSIM_K1, SSIM_K2, SSIM_L = 0.01, 0.03, 255.0
VIF_SCALES = 4
VIF_NOISE_VARIANCE = 2.0
VIF_EPS = 1e-10
VIF_MIN_SIZE = 41


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two arrays; 0 when either is constant."""
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    return float(np.sum(dx * dy) / denominator) if denominator > 0 else 0.0


def scd(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SCD = r(F - B, A) + r(F - A, B), r the Pearson correlation; range [-2, 2].

    F - B estimates what F took from A (and F - A what it took from B); a constant
    difference or source counts as correlation 0.
    Reference: V. Aslantas, E. Bendes, "A new image quality metric for image fusion: the sum
    of the correlations of differences", AEU Int. J. Electron. Commun. 69(12), 1890-1896, 2015.
    """
    f, x, y = as_triple(fused, a, b)
    return _correlation(f - y, x) + _correlation(f - x, y)


def ssim_index(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two images, range [-1, 1], 1 for identical images.

    11x11 Gaussian window (sigma 1.5) over the fully covered pixels, K1 = 0.01, K2 = 0.03,
    L = 255 (Wang et al.'s ``ssim_index.m``, without downsampling). Needs H, W >= 11.
    """
    x, y = as_grey(x, "x"), as_grey(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    if min(x.shape) < len(SSIM_WINDOW):
        raise ValueError(f"SSIM needs images of at least {len(SSIM_WINDOW)}x{len(SSIM_WINDOW)} pixels, got {x.shape}")
    c1, c2 = (SSIM_K1 * SSIM_L) ** 2, (SSIM_K2 * SSIM_L) ** 2
    mu_x, mu_y = filter_valid(x, SSIM_WINDOW), filter_valid(y, SSIM_WINDOW)
    var_x = filter_valid(x * x, SSIM_WINDOW) - mu_x * mu_x
    var_y = filter_valid(y * y, SSIM_WINDOW) - mu_y * mu_y
    cov = filter_valid(x * y, SSIM_WINDOW) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return float(np.mean(ssim_map))


def ssim(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SSIM = SSIM(F, A) + SSIM(F, B), range [-2, 2]; see :func:`ssim_index`.

    Reference: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
    assessment: from error visibility to structural similarity", IEEE Trans. Image
    Process. 13(4), 600-612, 2004.
    """
    f, x, y = as_triple(fused, a, b)
    return ssim_index(f, x) + ssim_index(f, y)


def vifp(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Pixel-domain multi-scale VIF of ``distorted`` against ``reference``, >= 0, 1 when
    they are identical (above 1 for contrast enhancement).

    Four scales with Gaussian windows of size 2^(5-s)+1 and sigma size/5, the image blurred
    and decimated by 2 between scales, HVS noise variance 2 (Sheikh's ``vifp_mscale.m``).
    Needs H, W >= 41 (every scale non-empty). A constant reference carries no information:
    the result is then 1 (nothing to lose).
    """
    ref, dist = as_grey(reference, "reference"), as_grey(distorted, "distorted")
    if ref.shape != dist.shape:
        raise ValueError(f"shapes differ: {ref.shape} and {dist.shape}")
    if min(ref.shape) < VIF_MIN_SIZE:
        raise ValueError(f"VIF needs images of at least {VIF_MIN_SIZE}x{VIF_MIN_SIZE} pixels, got {ref.shape}")
    num = den = 0.0
    for scale in range(1, VIF_SCALES + 1):
        size = 2 ** (VIF_SCALES - scale + 1) + 1
        window = gaussian_kernel_1d(size, size / 5.0)
        if scale > 1:
            ref = filter_valid(ref, window)[::2, ::2]
            dist = filter_valid(dist, window)[::2, ::2]
        mu1, mu2 = filter_valid(ref, window), filter_valid(dist, window)
        sigma1_sq = np.maximum(filter_valid(ref * ref, window) - mu1 * mu1, 0.0)
        sigma2_sq = np.maximum(filter_valid(dist * dist, window) - mu2 * mu2, 0.0)
        sigma12 = filter_valid(ref * dist, window) - mu1 * mu2
        g = sigma12 / (sigma1_sq + VIF_EPS)
        sv_sq = sigma2_sq - g * sigma12
        flat_ref = sigma1_sq < VIF_EPS
        g[flat_ref] = 0.0
        sv_sq[flat_ref] = sigma2_sq[flat_ref]
        sigma1_sq[flat_ref] = 0.0
        flat_dist = sigma2_sq < VIF_EPS
        g[flat_dist] = 0.0
        sv_sq[flat_dist] = 0.0
        negative = g < 0
        sv_sq[negative] = sigma2_sq[negative]
        g[negative] = 0.0
        sv_sq = np.maximum(sv_sq, VIF_EPS)
        num += float(np.sum(np.log10(1.0 + g * g * sigma1_sq / (sv_sq + VIF_NOISE_VARIANCE))))
        den += float(np.sum(np.log10(1.0 + sigma1_sq / VIF_NOISE_VARIANCE)))
    return num / den if den > 0 else 1.0


def vif(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """VIF = VIFP(A, F) + VIFP(B, F), >= 0 (2 when F equals both sources); see :func:`vifp`.

    The fusion score used by fusion benchmarks (VIF of F against each source, summed).
    Reference: H. R. Sheikh, A. C. Bovik, "Image information and visual quality", IEEE
    Trans. Image Process. 15(2), 430-444, 2006.
    """
    f, x, y = as_triple(fused, a, b)
    return vifp(x, f) + vifp(y, f)
