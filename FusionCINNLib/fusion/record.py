"""What a fusion used, as a JSON-ready record: inputs, windows, reference, registration, colour, model.

The CLI writes it as a sidecar JSON beside each fused volume (:func:`sidecar_path`, written atomically);
the Slicer module can store the same record as node attributes (:func:`record_attributes`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

from ..imaging.colour_maps import slicer_colour_node_name
from ..imaging.file_names import with_extension
from ..imaging.intensity import CT_WINDOW_HU, PERCENTILES
from ..pairs import modalities

if TYPE_CHECKING:
    from .pipeline import FusionResult

PathLike = Union[str, os.PathLike]
UNITS = {"ct": "HU", "mri": "MRI units", "pet": "PET units", "spect": "SPECT units"}
ATTRIBUTE_PREFIX = "FusionCINN."


def default_window_source(modality: str) -> str:
    """How the modality's default window is chosen, in words (imaging.intensity)."""
    if modality == "ct":
        return f"default: {CT_WINDOW_HU[0]:g}..{CT_WINDOW_HU[1]:g} HU"
    low, high = PERCENTILES[modality]
    return f"default: percentiles {low:g}..{high:g} of the volume"


def field_of_view_note(share: float, what: str, other: str, reference: str) -> str:
    """The sentence saying that ``share`` (0..1) of ``what`` lies beyond the ``other`` input's field of view,
    where the fused volume is the ``reference`` input alone (the CLI and the Slicer module say it alike)."""
    return f"{100 * share:.1f} % of {what} lies beyond {other}'s field of view, where it is {reference} alone"


def fusion_record(result: "FusionResult", pair: str, inputs: Mapping[str, str], registration: str,
                  window_sources: Mapping[str, Optional[str]], model: str,
                  outputs: Mapping[str, Optional[str]]) -> Dict[str, Any]:
    """The record of one volume fusion. ``inputs``: {"a": name, "b": name}; ``registration``: the choice
    asked for (auto/always/never); ``window_sources``: per side, how the user chose the window ("LO,HI",
    "preset brain", "Slicer window/level"), None for the modality's default; ``outputs``: {"grey": path,
    "colour": path or None}."""
    sides = {}
    for side, modality in zip("ab", modalities(pair)):
        window = result.windows[side]
        sides[side] = {"file": inputs[side], "modality": modality,
                       "window": {"low": window.low, "high": window.high, "units": UNITS[modality],
                                  "chosen": window_sources.get(side) or default_window_source(modality)}}
    reference = result.reference
    colour = None
    if result.colour_map is not None:
        colour = {"map": result.colour_map, "slicer_colour_node": slicer_colour_node_name(result.colour_map),
                  "file": outputs.get("colour"), "rule": "colour-mapped functional luminance (Y of YCbCr) fused with "
                                                          "the MRI; chroma (Cb, Cr) kept"}
    return {"pair": pair, "inputs": sides, "reference": reference,
            "output": {"file": outputs.get("grey"), "units": UNITS[modalities(pair)[0 if reference == "a" else 1]],
                       "range": [result.windows[reference].low, result.windows[reference].high]},
            "registration": {"choice": registration, "alignment": result.alignment,
                             "metric": result.registration_metric,
                             "outside_other_input": {"share": round(result.outside_other, 6),
                                                     "rule": "the reference input alone"}},
            "colour": colour, "model": model}


def sidecar_path(output: PathLike) -> Path:
    """The sidecar JSON of a fused volume: its name without the image extension, plus .json
    (fused.nii.gz -> fused.json), as dcm2niix and BIDS name theirs."""
    return with_extension(output, "", ".json")


def record_attributes(record: Mapping[str, Any], prefix: str = ATTRIBUTE_PREFIX) -> Dict[str, str]:
    """The record as string attributes for a Slicer node: {prefix + key: JSON text} per top-level key
    (``prefix`` "FusionCINN." by default; the module uses "FusionCINN.<pair>." for each fusion step)."""
    return {prefix + key: json.dumps(value) for key, value in record.items()}
