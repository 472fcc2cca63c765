"""Metrics of the fused image alone: EN, SD, SF, AG, EI.

Input: a 2D array, shape (H, W) with H, W >= 2, on the 0-255 grey scale (uint8 range).
"""

from __future__ import annotations

import numpy as np

from ._common import GREY_LEVELS, as_grey, entropy_of_counts, grey_levels, sobel_xy


def entropy(fused: np.ndarray) -> float:
    """EN: Shannon entropy of the 256-bin grey-level histogram, in bits, range [0, 8].

    EN = -sum_l p_l log2 p_l, with p_l the fraction of pixels at grey level l (values
    rounded to integers and clipped to 0..255).
    Reference: J. W. Roberts, J. van Aardt, F. Ahmed, "Assessment of image fusion
    procedures using entropy, image quality, and multispectral classification",
    J. Appl. Remote Sens. 2(1), 023522, 2008 (after C. E. Shannon, 1948).
    """
    counts = np.bincount(grey_levels(as_grey(fused, "fused")).ravel(), minlength=GREY_LEVELS)
    return entropy_of_counts(counts)


def standard_deviation(fused: np.ndarray) -> float:
    """SD: population standard deviation sqrt(mean((F - mean F)^2)), grey levels, [0, 127.5].

    Reference: Roberts et al. 2008 (see :func:`entropy`); Y.-J. Rao, "In-fibre Bragg grating
    sensors", Meas. Sci. Technol. 8(4), 1997, the citation the field uses for SD.
    """
    return float(np.std(as_grey(fused, "fused")))


def spatial_frequency(fused: np.ndarray) -> float:
    """SF = sqrt(RF^2 + CF^2), grey levels per pixel, >= 0.

    RF^2 = 1/(MN) sum_{i, j>=2} (F[i,j] - F[i,j-1])^2 (row frequency) and
    CF^2 = 1/(MN) sum_{i>=2, j} (F[i,j] - F[i-1,j])^2 (column frequency), for an M x N image.
    Reference: A. M. Eskicioglu, P. S. Fisher, "Image quality measures and their
    performance", IEEE Trans. Commun. 43(12), 2959-2965, 1995.
    """
    f = as_grey(fused, "fused")
    rf2 = np.sum(np.diff(f, axis=1) ** 2) / f.size
    cf2 = np.sum(np.diff(f, axis=0) ** 2) / f.size
    return float(np.sqrt(rf2 + cf2))


def average_gradient(fused: np.ndarray) -> float:
    """AG, grey levels per pixel, >= 0.

    AG = 1/((M-1)(N-1)) sum_{i<M, j<N} sqrt(((F[i+1,j]-F[i,j])^2 + (F[i,j+1]-F[i,j])^2) / 2),
    forward differences over the (M-1) x (N-1) pixels that have both neighbours.
    Reference: G. Cui, H. Feng, Z. Xu, Q. Li, Y. Chen, "Detail preserved fusion of visible
    and infrared images using regional saliency extraction and multi-scale image
    decomposition", Opt. Commun. 341, 199-209, 2015.
    """
    f = as_grey(fused, "fused")
    dx = f[:-1, 1:] - f[:-1, :-1]
    dy = f[1:, :-1] - f[:-1, :-1]
    return float(np.mean(np.sqrt((dx * dx + dy * dy) / 2.0)))


def edge_intensity(fused: np.ndarray) -> float:
    """EI: mean Sobel gradient magnitude sqrt(Gx^2 + Gy^2), grey levels per pixel, >= 0.

    3x3 Sobel kernels ([1 2 1] smoothing, [-1 0 1] difference), replicated borders, as in
    the VIFB benchmark. Reference: B. Rajalingam, R. Priya, "Hybrid multimodality medical
    image fusion technique for feature enhancement in medical diagnosis", Int. J. Eng. Sci.
    Invent., 2018.
    """
    gx, gy = sobel_xy(as_grey(fused, "fused"))
    return float(np.mean(np.hypot(gx, gy)))
