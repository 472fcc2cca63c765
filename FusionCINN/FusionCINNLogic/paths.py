"""Where the engine library and the models are, in a source checkout and in an installed extension.

Two layouts are supported:

- Source checkout (Developer mode, "add module from folder" on ``<repo>/FusionCINN``)::

      <repo>/FusionCINN/FusionCINN.py          the module
      <repo>/FusionCINN/FusionCINNLogic/       this package
      <repo>/FusionCINNLib/                    the engine (also used by the CLI)
      <repo>/Resources/Models/<model>/         shipped models

- Built with CMake / installed from the Extensions Manager (FusionCINN/CMakeLists.txt copies the
  library and the models into the module folder)::

      <qt-scripted-modules>/FusionCINN.py
      <qt-scripted-modules>/FusionCINNLogic/
      <qt-scripted-modules>/FusionCINNLib/
      <qt-scripted-modules>/Resources/Models/<model>/

In both, ``FusionCINNLib/network/model_files.py`` finds the models at ``<library parent>/Resources/Models``.
Nothing here imports the library (it imports torch); it only puts its folder on ``sys.path``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

MODULE_DIR = Path(__file__).resolve().parents[1]
"""The folder holding FusionCINN.py."""

MODELS_ENV = "FUSIONCINN_MODELS"
USER_MODELS_ENV = "FUSIONCINN_USER_MODELS"


def libraryParentDir() -> Optional[Path]:
    """The folder that contains the ``FusionCINNLib`` package (installed layout first), or None."""
    for candidate in (MODULE_DIR, MODULE_DIR.parent):
        if (candidate / "FusionCINNLib" / "__init__.py").is_file():
            return candidate
    return None


def ensureLibraryOnPath() -> Path:
    """Make ``import FusionCINNLib`` find the library shipped with this module; returns its parent folder.

    Raises ImportError with the two places looked at when the library is missing."""
    parent = libraryParentDir()
    if parent is None:
        raise ImportError(f"FusionCINNLib not found in {MODULE_DIR} or {MODULE_DIR.parent}; "
                          "the extension is incomplete (rebuild it, or add the repository folder as module path)")
    text = str(parent)
    if text not in sys.path:
        sys.path.insert(0, text)
    return parent


def shippedModelsDir() -> Path:
    """The shipped models folder, by the same rule as ``FusionCINNLib.network.model_files.shipped_models_dir``:
    ``$FUSIONCINN_MODELS`` if set, else ``<library parent>/Resources/Models``."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    parent = libraryParentDir() or MODULE_DIR
    return parent / "Resources" / "Models"


def defaultUserModelsDir() -> Path:
    """Where models retrained from the panel go: ``$FUSIONCINN_USER_MODELS`` or ``~/FusionCINN/Models``.
    (Inside Slicer the widget uses a folder next to Slicer's user settings instead.)"""
    env = os.environ.get(USER_MODELS_ENV)
    if env:
        return Path(env)
    return Path.home() / "FusionCINN" / "Models"
