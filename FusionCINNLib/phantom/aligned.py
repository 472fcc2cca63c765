"""The phantom's CT or PET on the MRI grid with the phantom's true alignment (no registration), for
measurements where only the fusion may differ between runs (findings, lesion profiles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import SimpleITK as sitk

from ..geometry.resampling import background_value, resample_to_reference
from .head_phantom import HeadPhantom


@dataclass
class AlignedPair:
    """``source`` (CT in HU or PET in SUV) and ``mri`` as (k, j, i) float32 arrays on the MRI grid;
    ``spacing`` (k, j, i) in mm; ``landmarks`` (N, 3) as (k, j, i) voxel indices, rounded."""

    source: np.ndarray
    mri: np.ndarray
    spacing: Tuple[float, float, float]
    landmarks: np.ndarray


def aligned_pair(phantom: HeadPhantom, modality: str) -> AlignedPair:
    """The phantom's ``modality`` ("ct" or "pet") resampled onto the MRI grid with the true transform."""
    mri, source = phantom.image("mri"), phantom.image(modality)
    on_mri = resample_to_reference(source, mri, phantom.ground_truth("mri", modality),
                                   background_value(source, modality))
    indices = [mri.TransformPhysicalPointToIndex(tuple(float(v) for v in point))
               for point in phantom.landmarks_in("mri")]
    return AlignedPair(sitk.GetArrayFromImage(on_mri).astype(np.float32),
                       sitk.GetArrayFromImage(mri).astype(np.float32),
                       tuple(float(s) for s in reversed(mri.GetSpacing())),
                       np.array([index[::-1] for index in indices], dtype=np.int64))
