"""Windows chosen by the user: "LO,HI" in the input's units, CT presets by name, or a viewer's window/level.

A chosen window replaces the modality's default window (imaging.intensity) for that input: values
below LO fuse as black, above HI as white, and when that input is the reference the fused volume is
written in its units on LO..HI.

CT presets, as (window width, level) in HU, from Radiopaedia's "Windowing (CT)" article
(head and neck; body for bone):

| name        | width | level | LO .. HI HU   | source's values                         |
|-------------|-------|-------|---------------|-----------------------------------------|
| brain       | 80    | 40    | 0 .. 80       | W:80 L:40                               |
| subdural    | 215   | 75    | -32.5 .. 182.5| W:130-300 L:50-100 (middle of each)     |
| stroke      | 40    | 40    | 20 .. 60      | W:8 L:32 or W:40 L:40 (the wider)       |
| bone        | 1800  | 400   | -500 .. 1300  | bones W:1800 L:400 (temporal W:2800 L:600) |
| soft-tissue | 350   | 50    | -125 .. 225   | soft tissues W:350-400 L:20-60          |
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

from ..errors import FusionInputError
from .intensity import IntensityWindow

Bounds = Tuple[float, float]
CT_PRESETS: Dict[str, Tuple[float, float]] = {
    "brain": (80.0, 40.0),
    "subdural": (215.0, 75.0),
    "stroke": (40.0, 40.0),
    "bone": (1800.0, 400.0),
    "soft-tissue": (350.0, 50.0),
}
"""CT presets: name -> (window width, level) in HU (module table)."""


def window_choice_source(text: str) -> str:
    """How a window given as text was chosen, in words: "preset brain" for a CT preset, else "user LO,HI"."""
    name = text.strip().lower()
    return f"preset {name}" if name in CT_PRESETS else f"user {text.strip()}"


def bounds_from_width_level(width: float, level: float) -> Bounds:
    """(LO, HI) of a window of ``width`` centred on ``level`` (a viewer's window/level, e.g. Slicer's)."""
    return level - width / 2.0, level + width / 2.0


def check_bounds(low: float, high: float, what: str) -> Bounds:
    """(low, high) as floats when both are finite and low < high; else a FusionInputError naming ``what``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise FusionInputError(f"{what}: window bounds must be finite numbers, got {low:g},{high:g}")
    if low >= high:
        raise FusionInputError(f"{what}: window LO must be below HI, got {low:g},{high:g}")
    return float(low), float(high)


def parse_window(text: str, modality: str, what: str) -> Bounds:
    """(LO, HI) in ``modality``'s units from "LO,HI" or, for a CT, a preset name (``CT_PRESETS``).
    ``what`` names the option in errors ("--window-a")."""
    name = text.strip().lower()
    if name in CT_PRESETS:
        if modality != "ct":
            raise FusionInputError(f"{what}: the preset {name!r} is a CT window (Hounsfield units), and this input "
                                   f"is {modality.upper()}; give LO,HI in its units")
        return bounds_from_width_level(*CT_PRESETS[name])
    parts = text.split(",")
    if len(parts) != 2:
        presets = f" or a CT preset ({', '.join(CT_PRESETS)})" if modality == "ct" else ""
        raise FusionInputError(f"{what}: expected LO,HI in the input's units{presets}, got {text!r}")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise FusionInputError(f"{what}: LO and HI must be numbers, got {text!r}") from None
    return check_bounds(low, high, what)


def chosen_window(bounds: Optional[Bounds], modality: str, what: str) -> Optional[IntensityWindow]:
    """The IntensityWindow of user ``bounds`` (checked), or None to use the modality's default."""
    if bounds is None:
        return None
    low, high = check_bounds(float(bounds[0]), float(bounds[1]), what)
    return IntensityWindow(low, high, modality)
