"""Finding model folders without loading torch: where the shipped models are, which folders hold a model,
the default model for a pair type, and a summary of each shipped model (``fusioncinn --version``).

A model folder holds ``config.json`` (format, architecture, pair types, the weights' SHA-256) and the weights;
``network/model_files.py`` loads and saves them. The shipped models are found, first match wins:

1. ``$FUSIONCINN_MODELS`` when set;
2. an installed wheel: package data at ``FusionCINNLib/models/<model>/`` (read with ``importlib.resources``);
3. a source checkout, an editable install, the Slicer extension: ``<library parent>/Resources/Models/<model>/``.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .errors import FusionInputError
from .hashing import file_sha256

FORMAT = "fusioncinn-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.pt"
PAIR_TYPES = ("ct-mri", "pet-mri", "spect-mri")
MODELS_ENV = "FUSIONCINN_MODELS"
PACKAGED_MODELS = "models"
"""The package-data folder of the shipped models in a wheel (setup.py maps Resources/Models there)."""


def read_config(folder: Path) -> Dict[str, Any]:
    """The parsed ``config.json`` of a model folder; FusionInputError naming the file if it is not one."""
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise FusionInputError(f"{folder}: not a FusionCINN model (no {CONFIG_NAME})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FusionInputError(f"{config_path}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise FusionInputError(f"{config_path}: not a FusionCINN model config (format is not {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise FusionInputError(f"{config_path}: unsupported format_version {config.get('format_version')!r}")
    return config


def packaged_models_dir() -> Optional[Path]:
    """The shipped models of an installed wheel (package data ``FusionCINNLib/models``), or None where the
    package has no such folder (a source checkout, an editable install, the Slicer extension) or is not
    on the file system (a zip import, whose models cannot be opened as files)."""
    folder = importlib.resources.files(__package__) / PACKAGED_MODELS
    return folder if isinstance(folder, Path) and folder.is_dir() else None


def shipped_models_dir() -> Path:
    """Where the shipped models live: $FUSIONCINN_MODELS, else the wheel's package data, else the checkout's
    or the Slicer extension's ``Resources/Models`` beside the library folder."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    return packaged_models_dir() or Path(__file__).resolve().parents[1] / "Resources" / "Models"


def available_models(folders: Sequence[Union[str, os.PathLike]] = ()) -> List[Path]:
    """Model folders (those holding a config.json) in the shipped models dir and in ``folders``."""
    found: List[Path] = []
    for root in [shipped_models_dir(), *map(Path, folders)]:
        if (root / CONFIG_NAME).is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(p.parent for p in root.glob(f"*/{CONFIG_NAME}")))
    return found


def default_model_path(pair: str) -> Path:
    """The shipped model for ``pair``: one trained for that pair alone first, else one covering it."""
    candidates = []
    for folder in available_models():
        try:
            pairs = read_config(folder).get("pair_types", [])
        except FusionInputError:
            continue
        if pair in pairs:
            candidates.append((len(pairs), folder.name, folder))
    if not candidates:
        raise FusionInputError(
            f"no trained model for {pair} in {shipped_models_dir()}: train one with 'fusioncinn train' "
            f"and pass it with --model, or set {MODELS_ENV}")
    return sorted(candidates)[0][2]


@dataclass(frozen=True)
class ModelSummary:
    """One shipped model as ``fusioncinn --version`` lists it."""

    name: str
    pair_types: List[str]
    sha256: str
    """The weights' SHA-256 that config.json records."""
    problem: str = ""
    """Empty when the config reads and the weights file matches its checksum; else why not (one line)."""


def summarise_model(folder: Path) -> ModelSummary:
    """Name, pair types and weights checksum of a model folder, with the weights file checked against it."""
    try:
        config = read_config(folder)
    except FusionInputError as err:
        return ModelSummary(folder.name, [], "", str(err))
    weights_info = config.get("weights") or {}
    recorded = str(weights_info.get("sha256", ""))
    weights = folder / str(weights_info.get("file", WEIGHTS_NAME))
    pair_types = [str(p) for p in config.get("pair_types", [])]
    if not weights.is_file():
        problem = f"{weights}: weights file is missing"
    elif file_sha256(weights) != recorded:
        problem = f"{weights}: checksum does not match {CONFIG_NAME} (truncated or replaced file)"
    else:
        problem = ""
    return ModelSummary(folder.name, pair_types, recorded, problem)
