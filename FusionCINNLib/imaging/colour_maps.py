"""Colour maps for functional volumes (PET, SPECT), as 3D Slicer defines them.

The control points are those of Slicer's procedural PET colour nodes
(Libs/MRML/Core/vtkMRMLPETProceduralColorNode.cxx): position 0..255 along the window, then R, G, B in
0..1, interpolated linearly in RGB between points (vtkColorTransferFunction, RGB colour space).

- "heat" = "PET-Heat": black, dark red, orange, yellow, white; its luminance rises with the value.
- "rainbow" = "PET-Rainbow2" (Rainbow.lut of the BIFI ImageJ plugins): black, purple, blue, green,
  yellow, orange, red.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..errors import FusionInputError
from ..pairs import modalities

ControlPoint = Tuple[float, float, float, float]

SLICER_PET_COLOUR_MAPS: Dict[str, Tuple[str, Tuple[ControlPoint, ...]]] = {
    "heat": ("PET-Heat", ((0, 0.0, 0.0, 0.0), (35, 0.36, 0.0, 0.0), (38, 0.5, 0.0, 0.0), (50, 0.7, 0.1, 0.0),
                          (70, 0.7, 0.5, 0.0), (87, 1.0, 1.0, 0.0), (255, 1.0, 1.0, 1.0))),
    "rainbow": ("PET-Rainbow2", ((0, 0.0, 0.0, 0.0), (32, 0.250980392, 0.0, 0.501960784), (64, 0.0, 0.0, 1.0),
                                 (96, 0.0, 1.0, 0.0), (160, 1.0, 1.0, 0.0), (192, 1.0, 0.752941176, 0.0),
                                 (255, 1.0, 0.011764706, 0.0))),
}
COLOUR_MAPS = tuple(SLICER_PET_COLOUR_MAPS)
"""Names accepted by :func:`apply_colour_map` (and the CLI's --colour)."""
COLOUR_MODALITIES = ("pet", "spect")
"""The inputs shown in colour: functional images, whose values are activity, not anatomy."""


def check_colour_map(name: str) -> str:
    """``name`` when it is a known colour map, else a FusionInputError listing them."""
    if name not in SLICER_PET_COLOUR_MAPS:
        raise FusionInputError(f"unknown colour map {name!r}; expected one of {', '.join(COLOUR_MAPS)}")
    return name


def slicer_colour_node_name(name: str) -> str:
    """The name of Slicer's colour node with the same definition ("PET-Heat" for "heat")."""
    return SLICER_PET_COLOUR_MAPS[check_colour_map(name)][0]


def apply_colour_map(values01: np.ndarray, name: str) -> np.ndarray:
    """Values in [0, 1] (any shape; clipped) -> RGB float32 in [0, 1], shape (..., 3)."""
    points = np.array(SLICER_PET_COLOUR_MAPS[check_colour_map(name)][1], dtype=np.float64)
    position = np.clip(values01.astype(np.float32, copy=False), 0.0, 1.0) * np.float32(255.0)
    rgb = np.empty(values01.shape + (3,), np.float32)
    for channel in range(3):
        rgb[..., channel] = np.interp(position, points[:, 0], points[:, 1 + channel])
    return rgb


def check_colour_pair(pair: str, colour: str) -> None:
    """FusionInputError unless ``colour`` is a known colour map and ``pair`` has a PET or SPECT."""
    check_colour_map(colour)
    functional = modalities(pair)[0]
    if functional not in COLOUR_MODALITIES:
        raise FusionInputError(f"colour fusion shows a PET or SPECT through a colour map; --pair is {pair}, whose "
                               f"{functional.upper()} is fused in grey only (drop --colour)")
