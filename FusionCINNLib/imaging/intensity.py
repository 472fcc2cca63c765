"""Per-modality intensity windows: how each input is scaled to [0, 1] and how the fused image is scaled back.

| modality | window [low, high]                          | why |
|----------|---------------------------------------------|-----|
| ct       | fixed -100 .. 1500 HU                       | air/fat -> 0, brain ~0.09, skull 0.6-1 (like the atlas CT) |
| mri      | robust percentiles p0.5 .. p99.5            | arbitrary units; ignores a few hot voxels |
| pet      | p0.5 .. p99.9                               | keeps lesions (the hottest 0.1 %) near 1 |
| spect    | p0.5 .. p99.9                               | as PET |
| display  | fixed 0 .. 255 (8-bit 2D images)            | atlas / screenshot images are already windowed |

Values outside the window are clipped. Percentiles are taken on at most ~4 M voxels (a regular
sub-sample), so they cost little on large volumes. A fused volume is written in the reference
input's units: fused_value = low + fused01 * (high - low) of the reference's window, float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FusionInputError

MODALITIES = ("ct", "mri", "pet", "spect", "display")
CT_WINDOW_HU = (-100.0, 1500.0)
PERCENTILES = {"mri": (0.5, 99.5), "pet": (0.5, 99.9), "spect": (0.5, 99.9)}
MAX_SAMPLES = 4_000_000


@dataclass(frozen=True)
class IntensityWindow:
    """A linear map of [low, high] (modality units) onto [0, 1]."""

    low: float
    high: float
    modality: str

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Modality units -> float32 in [0, 1] (clipped)."""
        out = np.subtract(values, np.float32(self.low), dtype=np.float32)  # the one new array: no temporaries
        out *= np.float32(1.0 / (self.high - self.low))
        return np.clip(out, 0.0, 1.0, out=out)

    def denormalise(self, values01: np.ndarray, in_place: bool = False) -> np.ndarray:
        """[0, 1] -> modality units, float32: a new array (``values01`` is not changed), or ``values01`` itself
        when ``in_place`` (it must then be float32), which spares a volume-sized array."""
        if in_place and values01.dtype != np.float32:
            raise TypeError(f"denormalise in place needs float32 values, got {values01.dtype}")
        out = values01 if in_place else np.empty(values01.shape, np.float32)
        np.multiply(values01, np.float32(self.high - self.low), out=out, dtype=np.float32)
        out += np.float32(self.low)
        return out


def _sample(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    step = max(1, flat.size // MAX_SAMPLES)
    return flat[::step]


def check_finite_and_varied(values: np.ndarray, name: str) -> None:
    """FusionInputError if ``values`` (from file ``name``) is empty, has NaN/Inf, or is constant."""
    if values.size == 0:
        raise FusionInputError(f"{name}: image is empty (0 voxels)")
    if np.issubdtype(values.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise FusionInputError(f"{name}: {bad} voxels are NaN or Inf; fix or mask them first")
    low, high = values.min(), values.max()
    if low == high:
        raise FusionInputError(f"{name}: image is constant (every voxel = {low}); nothing to fuse")


def window_for(values: np.ndarray, modality: str) -> IntensityWindow:
    """The intensity window of ``modality`` for these voxel values (any shape, any real dtype)."""
    if modality not in MODALITIES:
        raise FusionInputError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    if modality == "ct":
        return IntensityWindow(*CT_WINDOW_HU, modality)
    if modality == "display":
        return IntensityWindow(0.0, 255.0, modality)
    p_low, p_high = PERCENTILES[modality]
    sample = _sample(values).astype(np.float32)
    low, high = (float(v) for v in np.percentile(sample, [p_low, p_high]))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    if high <= low:
        high = low + 1.0
    return IntensityWindow(low, high, modality)
