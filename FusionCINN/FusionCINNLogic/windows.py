"""Which intensity window each input is fused on: "fuse what you see" (the window/level its display node
shows now), the modality's default, a CT preset, or LO..HI in the input's units. Only the choice is made
here; the engine (``FusionCINNLib.imaging.windows``) checks the bounds and applies them.

A choice per node is one of:
    "shown"    the display node's window/level now (GetWindowLevelMin/Max; with auto window/level on,
               the values Slicer computed); a node without a display node gets the modality's default
    "default"  the modality's default window (CT -100..1500 HU, MRI and PET/SPECT percentiles)
    a CT preset name (brain, subdural, stroke, bone, soft-tissue), or "LO,HI", or (LO, HI)
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .imagejob import importLibrary

SHOWN, DEFAULT = "shown", "default"
WindowChoice = Union[str, Tuple[float, float], List[float]]
WindowsArgument = Union[str, Mapping[Any, WindowChoice], None]


def displayedWindow(node) -> Optional[Tuple[float, float]]:
    """(LO, HI) the node's scalar volume display node shows now, in the node's voxel units; None when it
    has no such display node."""
    display = node.GetDisplayNode()
    if display is None or not display.IsA("vtkMRMLScalarVolumeDisplayNode"):
        return None
    return float(display.GetWindowLevelMin()), float(display.GetWindowLevelMax())


def _choiceFor(windows: WindowsArgument, node) -> WindowChoice:
    if windows is None:
        return DEFAULT
    if isinstance(windows, str):
        return windows
    for key in (node, node.GetID(), node.GetName()):
        try:
            if key in windows:
                return windows[key]
        except TypeError:  # an unhashable key type
            continue
    return DEFAULT


def resolveWindows(nodes: Mapping[str, Any], modalities: Mapping[str, str], windows: WindowsArgument
                   ) -> Tuple[Dict[str, List[float]], Dict[str, str]]:
    """(role -> [LO, HI], role -> how it was chosen) for the roles given a window; roles left out use the
    modality's default. ``windows``: one choice for every node ("shown", "default", ...), or a mapping
    from node (or its ID or name) to a choice, nodes not in it getting the default."""
    lib = importLibrary()
    from FusionCINNLib.imaging.windows import check_bounds, parse_window, window_choice_source

    bounds: Dict[str, List[float]] = {}
    sources: Dict[str, str] = {}
    for role, node in nodes.items():
        choice = _choiceFor(windows, node)
        what = f"window of {node.GetName()}"
        if isinstance(choice, str) and choice.strip().lower() == DEFAULT:
            continue
        if isinstance(choice, str) and choice.strip().lower() == SHOWN:
            shown = displayedWindow(node)
            if shown is None:
                continue
            bounds[role] = list(check_bounds(*shown, f"{what} (the window/level Slicer shows)"))
            display = node.GetDisplayNode()
            sources[role] = f"Slicer window/level (W {display.GetWindow():.6g}, L {display.GetLevel():.6g})"
        elif isinstance(choice, str):
            bounds[role] = list(parse_window(choice, modalities[role], what))
            sources[role] = window_choice_source(choice)
        else:
            try:
                low, high = (float(v) for v in choice)
            except (TypeError, ValueError):
                raise lib.FusionInputError(f"{what}: expected 'shown', 'default', a CT preset, 'LO,HI' or "
                                           f"(LO, HI), got {choice!r}") from None
            bounds[role] = list(check_bounds(low, high, what))
            sources[role] = f"user {low:g},{high:g}"
    return bounds, sources
