"""Quick-look figures: axial, coronal and sagittal views of volumes in a grid, written as a PNG.

Every volume is resampled (linear) onto an axis-aligned 1 mm display grid centred on a given
physical point (default: the volume's centre), so oblique volumes are shown upright; each panel is
windowed to its own 0.5-99.5 percentiles (colour volumes are shown as they are). Rows and columns can be
labelled (imaging.bitmap_font) and the point each panel is centred on marked by ticks at its edges. No
plotting library is needed.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from .bitmap_font import GLYPH_HEIGHT, draw_text, text_width
from .image_io import write_image

PANEL_MM = 220
GAP = 4
LABEL_SCALE = 2
LABEL_BAND = GLYPH_HEIGHT * LABEL_SCALE + 8
BORDER_GREY, TEXT_COLOUR, TICK_COLOUR = 64, (255, 255, 255), (0, 200, 255)
TICK = 10
PLANE_TITLES = ("axial", "coronal", "sagittal")


def _display_grid(image: sitk.Image, size_mm: int, centre: Optional[Sequence[float]]) -> sitk.Image:
    if centre is None:
        centre = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])
    grid = sitk.Image([size_mm] * 3, sitk.sitkFloat32)
    grid.SetOrigin([c - (size_mm - 1) / 2 for c in centre])
    return grid


def orthogonal_views(image: sitk.Image, centre: Optional[Sequence[float]] = None,
                     size_mm: int = PANEL_MM) -> List[np.ndarray]:
    """[axial, coronal, sagittal] views through ``centre`` (LPS mm; default the image centre) as uint8
    (size_mm, size_mm) arrays, 1 mm pixels, superior / anterior at the top; (size_mm, size_mm, 3) for a
    3-component uint8 (RGB) volume."""
    grid = _display_grid(image, size_mm, centre)
    mid = size_mm // 2
    if image.GetNumberOfComponentsPerPixel() == 3:
        colour = sitk.GetArrayFromImage(sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                      image.GetPixelID()))
        return [colour[mid], colour[:, mid, :][::-1], colour[:, :, mid][::-1]]
    background = float(sitk.GetArrayViewFromImage(image).min())
    volume = sitk.GetArrayFromImage(sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(),
                                                  sitk.sitkLinear, background, sitk.sitkFloat32))
    views = [volume[mid], volume[:, mid, :][::-1], volume[:, :, mid][::-1]]
    low, high = np.percentile(volume, [0.5, 99.5])
    scale = 255.0 / max(high - low, 1e-6)
    return [np.clip((v - low) * scale, 0, 255).astype(np.uint8) for v in views]


def focus_view(image: sitk.Image, centre: Sequence[float], size_mm: float = 48.0, pixel_mm: float = 0.25
               ) -> np.ndarray:
    """The axial plane through ``centre`` (LPS mm), ``size_mm`` wide, as a uint8 panel of ``pixel_mm``
    pixels, anterior at the top, windowed to the whole volume's 0.5-99.5 percentiles (so a finding's
    contrast is the volume's, not stretched to the panel); (side, side, 3) as it is for an RGB volume."""
    side = int(round(size_mm / pixel_mm))
    grid = sitk.Image([side, side, 1], sitk.sitkFloat32)
    grid.SetSpacing((pixel_mm, pixel_mm, pixel_mm))
    grid.SetOrigin((centre[0] - (side - 1) * pixel_mm / 2, centre[1] - (side - 1) * pixel_mm / 2, centre[2]))
    if image.GetNumberOfComponentsPerPixel() == 3:
        return sitk.GetArrayFromImage(sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                    image.GetPixelID()))[0]
    values = sitk.GetArrayViewFromImage(image)
    background = float(values.min())
    plane = sitk.GetArrayFromImage(sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(),
                                                 sitk.sitkLinear, background, sitk.sitkFloat32))[0]
    sample = values.reshape(-1)[::max(1, values.size // 2_000_000)]
    low, high = np.percentile(sample, [0.5, 99.5])
    return np.clip((plane - low) * (255.0 / max(high - low, 1e-6)), 0, 255).astype(np.uint8)


def _rgb(panel: np.ndarray) -> np.ndarray:
    return panel if panel.ndim == 3 else np.repeat(panel[..., None], 3, axis=-1)


def _mark_centre(panel: np.ndarray) -> None:
    """Ticks in from the middle of each edge of an RGB panel, pointing at its centre."""
    h, w = panel.shape[:2]
    panel[:TICK, w // 2 - 1:w // 2 + 1] = TICK_COLOUR
    panel[h - TICK:, w // 2 - 1:w // 2 + 1] = TICK_COLOUR
    panel[h // 2 - 1:h // 2 + 1, :TICK] = TICK_COLOUR
    panel[h // 2 - 1:h // 2 + 1, w - TICK:] = TICK_COLOUR


def labelled_montage(rows: Sequence[Sequence[np.ndarray]], row_titles: Optional[Sequence[str]] = None,
                     column_titles: Optional[Sequence[str]] = None, mark_centres: bool = False) -> np.ndarray:
    """Tile equally sized uint8 panels (grey (h, w) or RGB (h, w, 3)) into an RGB (H, W, 3) uint8 figure with a
    GAP-pixel grey border; with titles, a band of text above the columns and above each row; with
    ``mark_centres``, ticks pointing at each panel's centre."""
    h, w = rows[0][0].shape[:2]
    top = LABEL_BAND if column_titles else 0
    band = LABEL_BAND if row_titles else 0
    columns = len(rows[0])
    out = np.full((top + len(rows) * (band + h + GAP) + GAP, columns * (w + GAP) + GAP, 3), BORDER_GREY, np.uint8)
    for c, title in enumerate(column_titles or ()):
        left = GAP + c * (w + GAP) + max(0, (w - text_width(title, LABEL_SCALE)) // 2)
        draw_text(out, title, 4, left, TEXT_COLOUR, LABEL_SCALE)
    for r, row in enumerate(rows):
        row_top = top + r * (band + h + GAP)
        if row_titles:
            draw_text(out, row_titles[r], row_top + 6, GAP, TEXT_COLOUR, LABEL_SCALE)
        for c, panel in enumerate(row):
            tile = _rgb(panel).copy()
            if mark_centres:
                _mark_centre(tile)
            y, x = row_top + band + GAP, GAP + c * (w + GAP)
            out[y:y + h, x:x + w] = tile
    return out


def write_orthogonal_figure(volumes: Sequence[sitk.Image], path: Union[str, os.PathLike],
                            centres: Optional[Sequence[Optional[Sequence[float]]]] = None,
                            row_titles: Optional[Sequence[str]] = None, mark_centres: bool = False) -> None:
    """One row per volume (axial | coronal | sagittal through its centre in ``centres``), written
    atomically as an 8-bit PNG: RGB with ``row_titles`` (the planes head the columns) or a colour volume,
    grey otherwise."""
    centres = centres or [None] * len(volumes)
    rows = [orthogonal_views(v, c) for v, c in zip(volumes, centres)]
    _write_figure(rows, path, row_titles, PLANE_TITLES if row_titles else None, mark_centres)


def write_focus_figure(rows: Sequence[Sequence[sitk.Image]], centres: Sequence[Sequence[Sequence[float]]],
                       path: Union[str, os.PathLike], row_titles: Optional[Sequence[str]] = None,
                       column_titles: Optional[Sequence[str]] = None, mark_centres: bool = False) -> None:
    """Rows of zoomed axial panels (:func:`focus_view`), panel [r][c] of ``rows[r][c]`` through
    ``centres[r][c]`` (LPS mm), written atomically as an 8-bit PNG (RGB when labelled)."""
    panels = [[focus_view(image, centre) for image, centre in zip(row, row_centres)]
              for row, row_centres in zip(rows, centres)]
    _write_figure(panels, path, row_titles, column_titles, mark_centres)


def _write_figure(rows: Sequence[Sequence[np.ndarray]], path: Union[str, os.PathLike],
                  row_titles: Optional[Sequence[str]], column_titles: Optional[Sequence[str]],
                  mark_centres: bool) -> None:
    grey = not (row_titles or column_titles or mark_centres) and all(p.ndim == 2 for row in rows for p in row)
    figure = labelled_montage(rows, row_titles, column_titles, mark_centres)
    if grey:
        figure = figure[..., 0]
    write_image(sitk.GetImageFromArray(figure, isVector=figure.ndim == 3), path, compress=False)
