"""Colour fusion of a PET or SPECT volume with an MRI: the paper's YCbCr rule for colour pictures, in 3D.

The functional stack (values in [0, 1] of its window) goes through a colour map (imaging.colour_maps);
the luminance Y of that colour picture (ITU-R BT.601, imaging.colour) is fused with the MRI by the
network, and the colour's chroma (Cb, Cr) is kept: RGB = YCbCr->RGB(fused Y, source Cb, source Cr), stored
as 8 bits per channel.

Where that colour is outside the RGB cube (a saturated colour made darker or brighter by the fusion: the
heat map's reds and yellows have no blue at all, so any darkening needs a blue below 0), its chroma is
scaled down just enough to fit, at the fused luminance: the hue (which activity the colour map shows) and
the fused luminance stay exact, only the saturation drops. Clipping each channel instead (what a plain
YCbCr->RGB conversion does) would change both hue and luminance; the two agree wherever the colour fits.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError
from ..imaging.colour import rgb_to_ycbcr
from ..imaging.colour_maps import apply_colour_map
from ..network.fusion_net import FusionNet
from .slices import fuse_slices

CHUNK_VOXELS = 1 << 22
"""Voxels converted to and from colour at a time (bounds the float64 colour arrays to ~100 MB)."""


def _chunks(stack: np.ndarray):
    step = max(1, CHUNK_VOXELS // max(1, stack[0].size))
    return [slice(start, start + step) for start in range(0, len(stack), step)]


def colour_luminance(functional01: np.ndarray, colour: str) -> np.ndarray:
    """Y (float32, same shape, [0, 1]) of ``functional01`` (values in [0, 1]) seen through ``colour``."""
    luminance = np.empty(functional01.shape, np.float32)
    for part in _chunks(functional01):
        luminance[part] = np.clip(rgb_to_ycbcr(apply_colour_map(functional01[part], colour))[0], 0.0, 1.0)
    return luminance


def fuse_colour_stacks(net: FusionNet, functional01: np.ndarray, mri01: np.ndarray, colour: str,
                       outside: Optional[np.ndarray] = None, reference: str = "a", **options: Any) -> np.ndarray:
    """Colour-fuse (N, H, W) stacks in [0, 1]: the colour-mapped functional stack's luminance fused with the
    MRI by ``net`` (``options`` go to :func:`fuse_slices`), its chroma kept. ``outside``: (N, H, W) bool, where
    the input other than ``reference`` ("a": the functional, "b": the MRI) has no data; there the luminance is
    the reference's own. Returns (N, H, W, 3) uint8 RGB."""
    luminance = colour_luminance(functional01, colour)
    fused_luminance = fuse_slices(net, luminance, mri01, **options)
    if outside is not None:
        np.copyto(fused_luminance, luminance if reference == "a" else mri01, where=outside)
    rgb = np.empty(functional01.shape + (3,), np.uint8)
    for part in _chunks(functional01):
        rgb[part] = np.round(recolour(apply_colour_map(functional01[part], colour), fused_luminance[part]) * 255.0)
    return rgb


def recolour(source_rgb: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """RGB (..., 3) in [0, 1] of the colours ``source_rgb`` (..., 3) given the new ``luminance`` (...) in [0, 1]:
    the same chroma, scaled down where needed to stay inside the RGB cube (module doc). float32."""
    offset = source_rgb - rgb_to_ycbcr(source_rgb)[0][..., None]  # the chroma as RGB: its luminance is 0
    y = np.clip(luminance.astype(np.float32), 0.0, 1.0)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offset > 0, (1.0 - y) / offset, np.where(offset < 0, -y / offset, np.inf))
    scale = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return np.clip(y + scale * offset, 0.0, 1.0).astype(np.float32)


def rgb_image_on(reference: sitk.Image, rgb: np.ndarray) -> sitk.Image:
    """(K, J, I, 3) uint8 RGB -> a SimpleITK 3-component uint8 image on exactly ``reference``'s grid."""
    if rgb.shape[:3] != tuple(reference.GetSize())[::-1] or rgb.shape[3:] != (3,) or rgb.dtype != np.uint8:
        raise FusionInputError(f"RGB array {rgb.shape} {rgb.dtype} does not fit the reference grid "
                               f"{reference.GetSize()} (expected (K, J, I, 3) uint8)")
    image = sitk.GetImageFromArray(rgb, isVector=True)
    image.CopyInformation(reference)
    return image
