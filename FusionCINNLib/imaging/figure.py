"""Quick-look figures: axial, coronal and sagittal views of volumes in a grid, written as a PNG.

Every volume is resampled (linear) onto an axis-aligned 1 mm display grid centred on a given
physical point (default: the volume's centre), so oblique volumes are shown upright; each panel is
windowed to its own 0.5-99.5 percentiles. No plotting library is needed.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from .image_io import write_image

PANEL_MM = 220
GAP = 4


def _display_grid(image: sitk.Image, size_mm: int, centre: Optional[Sequence[float]]) -> sitk.Image:
    if centre is None:
        centre = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])
    grid = sitk.Image([size_mm] * 3, sitk.sitkFloat32)
    grid.SetOrigin([c - (size_mm - 1) / 2 for c in centre])
    return grid


def orthogonal_views(image: sitk.Image, centre: Optional[Sequence[float]] = None,
                     size_mm: int = PANEL_MM) -> List[np.ndarray]:
    """[axial, coronal, sagittal] views through ``centre`` (LPS mm; default the image centre) as uint8
    (size_mm, size_mm) arrays, 1 mm pixels, superior / anterior at the top."""
    grid = _display_grid(image, size_mm, centre)
    background = float(sitk.GetArrayViewFromImage(image).min())
    volume = sitk.GetArrayFromImage(sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(),
                                                  sitk.sitkLinear, background, sitk.sitkFloat32))
    mid = size_mm // 2
    views = [volume[mid], volume[:, mid, :][::-1], volume[:, :, mid][::-1]]
    low, high = np.percentile(volume, [0.5, 99.5])
    scale = 255.0 / max(high - low, 1e-6)
    return [np.clip((v - low) * scale, 0, 255).astype(np.uint8) for v in views]


def focus_view(image: sitk.Image, centre: Sequence[float], size_mm: float = 48.0, pixel_mm: float = 0.25
               ) -> np.ndarray:
    """The axial plane through ``centre`` (LPS mm), ``size_mm`` wide, as a uint8 panel of ``pixel_mm``
    pixels, anterior at the top, windowed to the whole volume's 0.5-99.5 percentiles (so a finding's
    contrast is the volume's, not stretched to the panel)."""
    side = int(round(size_mm / pixel_mm))
    grid = sitk.Image([side, side, 1], sitk.sitkFloat32)
    grid.SetSpacing((pixel_mm, pixel_mm, pixel_mm))
    grid.SetOrigin((centre[0] - (side - 1) * pixel_mm / 2, centre[1] - (side - 1) * pixel_mm / 2, centre[2]))
    values = sitk.GetArrayViewFromImage(image)
    background = float(values.min())
    plane = sitk.GetArrayFromImage(sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(),
                                                 sitk.sitkLinear, background, sitk.sitkFloat32))[0]
    sample = values.reshape(-1)[::max(1, values.size // 2_000_000)]
    low, high = np.percentile(sample, [0.5, 99.5])
    return np.clip((plane - low) * (255.0 / max(high - low, 1e-6)), 0, 255).astype(np.uint8)


def montage(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Tile equally sized uint8 panels (rows of columns) with a GAP-pixel grey border."""
    h, w = rows[0][0].shape
    out = np.full((len(rows) * (h + GAP) + GAP, len(rows[0]) * (w + GAP) + GAP), 64, np.uint8)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            top, left = GAP + r * (h + GAP), GAP + c * (w + GAP)
            out[top:top + h, left:left + w] = panel
    return out


def write_orthogonal_figure(volumes: Sequence[sitk.Image], path: Union[str, os.PathLike],
                            centres: Optional[Sequence[Optional[Sequence[float]]]] = None) -> None:
    """One row per volume (axial | coronal | sagittal through its centre in ``centres``), written
    atomically as an 8-bit PNG."""
    centres = centres or [None] * len(volumes)
    rows = [orthogonal_views(v, c) for v, c in zip(volumes, centres)]
    write_image(sitk.GetImageFromArray(montage(rows)), path, compress=False)


def write_focus_figure(rows: Sequence[Sequence[sitk.Image]], centres: Sequence[Sequence[Sequence[float]]],
                       path: Union[str, os.PathLike]) -> None:
    """Rows of zoomed axial panels (:func:`focus_view`), panel [r][c] of ``rows[r][c]`` through
    ``centres[r][c]`` (LPS mm), written atomically as an 8-bit PNG."""
    panels = [[focus_view(image, centre) for image, centre in zip(row, row_centres)]
              for row, row_centres in zip(rows, centres)]
    write_image(sitk.GetImageFromArray(montage(panels)), path, compress=False)
