"""Input checks and small filters shared by the fusion metrics.

All arrays here are 2D float64 on the 0-255 grey scale (uint8 range), shape (H, W).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GREY_LEVELS = 256


def as_grey(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``image`` as a finite 2D float64 array, shape (H, W) with H, W >= 2."""
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2D grey image, got shape {array.shape}")
    if min(array.shape) < 2:
        raise ValueError(f"{name} must be at least 2x2 pixels, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def as_triple(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fused image and both sources as 2D float64 arrays of one shape."""
    f, x, y = as_grey(fused, "fused"), as_grey(a, "a"), as_grey(b, "b")
    if not f.shape == x.shape == y.shape:
        raise ValueError(f"shapes differ: fused {f.shape}, a {x.shape}, b {y.shape}")
    return f, x, y


def grey_levels(image: np.ndarray) -> np.ndarray:
    """Integer grey levels 0..255 of a 0-255 image (rounded, then clipped), same shape."""
    return np.clip(np.rint(image), 0, GREY_LEVELS - 1).astype(np.intp)


def entropy_of_counts(counts: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram of counts (any shape)."""
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log2(p)))


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1D Gaussian of odd ``size``; its outer product is MATLAB's
    ``fspecial('gaussian', size, sigma)`` (that kernel is separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    kernel = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def filter_valid(image: np.ndarray, kernel_1d: np.ndarray) -> np.ndarray:
    """Separable filtering keeping only fully covered pixels (MATLAB ``filter2(w, x, 'valid')``
    for symmetric ``w``): shape (H - k + 1, W - k + 1), empty when the image is smaller."""
    radius = (len(kernel_1d) - 1) // 2
    out = ndimage.correlate1d(image, kernel_1d, axis=0, mode="nearest")
    out = ndimage.correlate1d(out, kernel_1d, axis=1, mode="nearest")
    h, w = image.shape
    return out[radius:h - radius, radius:w - radius]


def sobel_xy(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel responses (horizontal, vertical), each shape (H, W), replicated borders
    (MATLAB ``imfilter(x, fspecial('sobel'), 'replicate')``) so flat images give 0."""
    gx = ndimage.sobel(image, axis=1, mode="nearest")
    gy = ndimage.sobel(image, axis=0, mode="nearest")
    return gx, gy
