"""Catching a wrong --pair or swapped inputs before fusing, with rules that never refuse a real scan.

- The same image twice (identical pixels) is refused, for pictures and volumes.

The modality rules apply to 3D volumes only (2D pictures are display-windowed and carry no units):
- A volume declared CT must look like Hounsfield units. It is refused when it has no negative value,
  no value above 1500 and a 99th percentile above 150. A CT as acquired holds air (-1000 HU) or at
  least fat (-100 HU); one with neither is a masked soft-tissue CT, whose 99th percentile stays
  below ~100 HU, so it passes; dense bone, metal or an un-rescaled CT (0..4095) exceed 1500 and pass.
  An MRI in arbitrary units (0 to a few hundred or thousand) is refused, unless its maximum exceeds
  1500 or its 99th percentile is below 150: those are not caught, by design.
- A volume declared CT whose air is not near -1000 HU but whose soft tissue sits near +1024 is a CT in raw
  scanner values (stored without its rescale intercept: NIfTI, DICOM without RescaleIntercept, TIFF
  stacks). It is refused, not shifted by a guessed offset: at least 99 % of its voxels are above -200
  (no air in HU) and at least 20 % lie in 924..1174 (soft tissue, -100..150 HU, plus 1024). A CT in
  HU has its soft tissue near 0 and, even masked, only a thin band of bone in 924..1174 HU. The
  fuse command's ``--ct-offset -1024`` applies a known offset.
- A volume declared MRI, PET or SPECT is refused when at least 10 % of its voxels are at or below
  -500 and its minimum is at or below -900: that is air in HU, which neither MRI magnitude nor PET
  activity can show.
Statistics are taken on at most ~4 M voxels (a regular sub-sample).
"""

from __future__ import annotations

import numpy as np

from ..errors import FusionInputError
from .intensity import MAX_SAMPLES

CT_MAX_WITHOUT_AIR = 1500.0
CT_SOFT_TISSUE_P99 = 150.0
RAW_OFFSET = 1024.0
"""Usual offset between raw CT values and HU (HU = raw - 1024), named in the message."""
RAW_NO_AIR_P1 = -200.0
RAW_TISSUE_BAND = (-100.0 + RAW_OFFSET, 150.0 + RAW_OFFSET)
RAW_TISSUE_FRACTION = 0.20
AIR_HU = -500.0
AIR_MIN_HU = -900.0
AIR_FRACTION = 0.10
LABELS = {"ct": "CT", "mri": "MRI", "pet": "PET", "spect": "SPECT"}


def _sample(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    return flat[::max(1, flat.size // MAX_SAMPLES)].astype(np.float64)


def check_declared_modality(values: np.ndarray, modality: str, name: str) -> None:
    """FusionInputError when the voxels of the 3D volume ``name`` do not fit ``modality`` (rules above)."""
    sample = _sample(values)
    low, high = float(sample.min()), float(sample.max())
    if modality == "ct":
        p1, p99 = (float(v) for v in np.percentile(sample, [1, 99]))
        tissue = float(np.mean((sample >= RAW_TISSUE_BAND[0]) & (sample <= RAW_TISSUE_BAND[1])))
        if p1 > RAW_NO_AIR_P1 and tissue >= RAW_TISSUE_FRACTION:
            raise FusionInputError(
                f"{name}: looks like a CT in raw scanner values, not Hounsfield units (no air near -1000: 1st "
                f"percentile {p1:.0f}; {100 * tissue:.0f} % of voxels at "
                f"{RAW_TISSUE_BAND[0]:g}..{RAW_TISSUE_BAND[1]:g}, soft tissue + {RAW_OFFSET:g}); apply its rescale "
                f"intercept, or give --ct-offset -{RAW_OFFSET:g} if HU = value - {RAW_OFFSET:g}")
        if low >= 0 and high <= CT_MAX_WITHOUT_AIR and p99 > CT_SOFT_TISSUE_P99:
            raise FusionInputError(
                f"{name}: does not look like a CT in Hounsfield units (values {low:g} to {high:g}, no air or fat "
                "below 0); is it an MRI? Check --pair and the order of A and B")
        return
    air = float(np.mean(sample <= AIR_HU))
    if air >= AIR_FRACTION and low <= AIR_MIN_HU:
        raise FusionInputError(
            f"{name}: looks like a CT in Hounsfield units ({100 * air:.0f} % of voxels at or below {AIR_HU:g}), "
            f"not a{'n' if modality == 'mri' else ''} {LABELS[modality]}; check --pair and the order of A and B")


def check_distinct(values_a: np.ndarray, values_b: np.ndarray, name_a: str, name_b: str) -> None:
    """FusionInputError when A and B hold the same pixels (the same file given twice, or a copy)."""
    if values_a.shape == values_b.shape and np.array_equal(values_a, values_b):
        raise FusionInputError(f"{name_a}, {name_b}: the two inputs are the same image; nothing to fuse")
