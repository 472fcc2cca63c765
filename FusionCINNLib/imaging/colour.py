"""Colour handling: ITU-R BT.601 full-range YCbCr (the JPEG convention) on arrays in [0, 1]."""

from __future__ import annotations

from typing import Tuple

import numpy as np

_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                      [-0.168736, -0.331264, 0.5],
                      [0.5, -0.418688, -0.081312]], dtype=np.float64)
_TO_RGB = np.linalg.inv(_TO_YCBCR)


def rgb_to_ycbcr(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(..., 3) RGB in [0, 1] -> (Y (...) in [0, 1], CbCr (..., 2) in [-0.5, 0.5]), float32."""
    ycc = rgb.astype(np.float64) @ _TO_YCBCR.T
    return ycc[..., 0].astype(np.float32), ycc[..., 1:].astype(np.float32)


def ycbcr_to_rgb(y: np.ndarray, cbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`; result clipped to [0, 1], float32, shape (..., 3)."""
    ycc = np.concatenate([y[..., None].astype(np.float64), cbcr.astype(np.float64)], axis=-1)
    return np.clip(ycc @ _TO_RGB.T, 0.0, 1.0).astype(np.float32)


def is_grey(rgb: np.ndarray, tolerance: float = 0.0) -> bool:
    """True when the channels of an (..., C>=3) image are equal (grey stored as RGB/RGBA/palette)."""
    return bool(np.all(np.abs(rgb[..., 0] - rgb[..., 1]) <= tolerance)
                and np.all(np.abs(rgb[..., 0] - rgb[..., 2]) <= tolerance))
