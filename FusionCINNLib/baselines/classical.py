"""Classical pixel-level fusion rules used as baselines.

Every function takes two float arrays of equal shape (H, W) with values in [0, 1] (any
H, W >= 1, odd and non-square included) and returns a float32 array of that shape, clipped
to [0, 1].
"""

from __future__ import annotations

from typing import List

import numpy as np
import pywt
from scipy import ndimage

_BURT_ADELSON = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sources as float64 2D arrays of one shape."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"sources must be 2D arrays of one shape, got {x.shape} and {y.shape}")
    return x, y


def _output(fused: np.ndarray) -> np.ndarray:
    """float32, clipped to [0, 1]."""
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


def _max_abs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per element, the value with the larger magnitude (x on ties)."""
    return np.where(np.abs(x) >= np.abs(y), x, y)


def fuse_average(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixel-wise mean (a + b) / 2; (H, W) in [0, 1] -> float32 (H, W) in [0, 1]."""
    x, y = _pair(a, b)
    return _output((x + y) / 2.0)


def fuse_dwt_max_abs(a: np.ndarray, b: np.ndarray, levels: int = 3) -> np.ndarray:
    """Haar DWT fusion: ``levels``-level ``pywt.wavedec2``, approximation averaged, every
    detail coefficient taken from the source with the larger magnitude, inverse transform
    cropped to (H, W). (H, W) in [0, 1] -> float32 (H, W) in [0, 1]."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    x, y = _pair(a, b)
    coeffs_a = pywt.wavedec2(x, "haar", level=levels)
    coeffs_b = pywt.wavedec2(y, "haar", level=levels)
    fused = [(coeffs_a[0] + coeffs_b[0]) / 2.0]
    for details_a, details_b in zip(coeffs_a[1:], coeffs_b[1:]):
        fused.append(tuple(_max_abs(da, db) for da, db in zip(details_a, details_b)))
    image = pywt.waverec2(fused, "haar")
    return _output(image[: x.shape[0], : x.shape[1]])


def _blur(image: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Separable 5-tap binomial blur (Burt & Adelson), mirrored borders, times ``gain``."""
    kernel = _BURT_ADELSON * gain
    out = ndimage.convolve1d(image, kernel, axis=0, mode="mirror")
    return ndimage.convolve1d(out, kernel, axis=1, mode="mirror")


def _reduce(image: np.ndarray) -> np.ndarray:
    """Blur and keep every second pixel: (H, W) -> (ceil(H/2), ceil(W/2))."""
    return _blur(image)[::2, ::2]


def _expand(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-insert upsampling to ``shape`` (each side 2n or 2n - 1), then blur with gain 2 per axis."""
    up = np.zeros(shape)
    up[::2, ::2] = image
    return _blur(up, gain=2.0)


def _laplacian_pyramid(image: np.ndarray, levels: int) -> List[np.ndarray]:
    """``levels`` band-pass images, finest first, then the low-pass base."""
    pyramid = []
    current = image
    for _ in range(levels):
        smaller = _reduce(current)
        pyramid.append(current - _expand(smaller, current.shape))
        current = smaller
    pyramid.append(current)
    return pyramid


def fuse_laplacian_pyramid(a: np.ndarray, b: np.ndarray, levels: int = 4) -> np.ndarray:
    """Laplacian pyramid fusion: max-abs on each of ``levels`` band-pass levels, average on
    the base, then collapse (exact inverse of the decomposition).
    (H, W) in [0, 1] -> float32 (H, W) in [0, 1].

    Reference: P. J. Burt, E. H. Adelson, "The Laplacian pyramid as a compact image code",
    IEEE Trans. Commun. 31(4), 532-540, 1983.
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    x, y = _pair(a, b)
    pyramid_a, pyramid_b = _laplacian_pyramid(x, levels), _laplacian_pyramid(y, levels)
    image = (pyramid_a[-1] + pyramid_b[-1]) / 2.0
    for band_a, band_b in zip(reversed(pyramid_a[:-1]), reversed(pyramid_b[:-1])):
        image = _max_abs(band_a, band_b) + _expand(image, band_a.shape)
    return _output(image)
