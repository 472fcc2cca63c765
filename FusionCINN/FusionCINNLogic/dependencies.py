"""Which Python packages the engine still needs inside Slicer, and how to pip-install them safely.

- torch comes from the PyTorch extension (``PyTorchUtils``), which picks the build that matches the
  GPU/driver; it is never pip-installed here.
- FrEIA and PyWavelets are pip-installed after the user confirms.
- SimpleITK and numpy ship with Slicer and are never pip-installed: the pip call gets a constraints
  file pinning them (and torch) to the installed versions, so a dependency cannot replace them;
  pip fails with a message instead.

The dialogs and the PyTorchUtils calls live in the widget (FusionCINN.py); this file needs no qt.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Dict, List, Union

IMPORT_NAMES: Dict[str, str] = {"torch": "torch", "FrEIA": "FrEIA", "PyWavelets": "pywt"}
"""Distribution name -> import name of what the engine needs beyond Slicer's own packages."""

PIP_REQUIREMENTS: Dict[str, str] = {"FrEIA": "FrEIA>=0.2", "PyWavelets": "PyWavelets>=1.4"}
"""Requirements installed with pip (the versions pyproject.toml asks for)."""

PINNED = ("numpy", "SimpleITK", "torch")
"""Installed distributions the pip call may not change."""

TORCH_REQUIREMENT = ">=2.0"


def missingPackages() -> List[str]:
    """Distribution names from IMPORT_NAMES that cannot be imported, in install order (torch first)."""
    return [name for name, module in IMPORT_NAMES.items() if importlib.util.find_spec(module) is None]


def pipPackages(missing: List[str]) -> List[str]:
    """The pip requirements for ``missing`` (torch excluded: it comes from the PyTorch extension)."""
    return [PIP_REQUIREMENTS[name] for name in missing if name in PIP_REQUIREMENTS]


def constraints() -> List[str]:
    """``name==version`` for each PINNED distribution that is installed."""
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def pipInstallArguments(missing: List[str], constraintsFile: Union[str, Path]) -> List[str]:
    """Arguments for ``slicer.util.pip_install`` (a list), writing the constraints file first.

    Empty when nothing needs pip."""
    packages = pipPackages(missing)
    if not packages:
        return []
    path = Path(constraintsFile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(constraints()) + "\n", encoding="utf-8")
    return [*packages, "--constraint", str(path)]
