"""Model files: a folder with ``config.json`` (architecture, pair types, provenance, weights checksum)
and ``weights.pt`` (a plain state dict, read with ``torch.load(weights_only=True)``: no code runs).

Loading checks, in order: the folder and config exist and parse, the weights' SHA-256 matches the
config (catches truncated or swapped files), the weights unpickle without code, and every tensor
name and shape matches the architecture. Each failure is a FusionInputError naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from ..atomic import atomic_output, write_json
from ..errors import FusionInputError
from ..hashing import file_sha256
from ..model_catalog import (CONFIG_NAME, FORMAT, FORMAT_VERSION, PAIR_TYPES, WEIGHTS_NAME, available_models,
                             default_model_path, read_config, shipped_models_dir)
from .config import ModelConfig
from .fusion_net import FusionNet

__all__ = ["FusionModel", "available_models", "default_model_path", "load_model", "save_model",
           "shipped_models_dir"]
"""Finding models (available_models, default_model_path, shipped_models_dir) is in model_catalog, which
needs no torch; they are named here too, where loading and saving are."""


@dataclass
class FusionModel:
    """A FusionNet with the metadata of its model file."""

    net: FusionNet
    pair_types: List[str]
    provenance: Dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None

    @property
    def config(self) -> ModelConfig:
        return self.net.config

    @property
    def name(self) -> str:
        return self.path.name if self.path else "unsaved model"


def save_model(model: FusionModel, folder: Union[str, os.PathLike]) -> Path:
    """Write ``folder/weights.pt`` then ``folder/config.json``, each atomically. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAME
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    with atomic_output(weights) as tmp:
        torch.save(state, tmp)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": model.config.to_dict(),
        "pair_types": list(model.pair_types),
        "intensity": "inputs in [0, 1]; see FusionCINNLib/imaging/intensity.py for each modality's window",
        "weights": {"file": WEIGHTS_NAME, "sha256": file_sha256(weights)},
        "provenance": model.provenance,
    }
    write_json(config, folder / CONFIG_NAME)
    model.path = folder
    return folder


def _read_state(weights: Path, expected_sha: Optional[str]) -> Dict[str, torch.Tensor]:
    if not weights.is_file():
        raise FusionInputError(f"{weights}: weights file is missing")
    if expected_sha and file_sha256(weights) != expected_sha:
        raise FusionInputError(f"{weights}: checksum does not match {CONFIG_NAME} (truncated or replaced file)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise FusionInputError(f"{weights}: refused to load: the file holds code or objects, not only tensors "
                               "(unsafe pickle); get the model from a trusted source") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, io.UnsupportedOperation, ValueError) as err:
        raise FusionInputError(f"{weights}: not a readable weights file ({str(err).splitlines()[0]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FusionInputError(f"{weights}: expected a dict of tensors")
    return state


def _check_state(net: FusionNet, state: Dict[str, torch.Tensor], weights: Path) -> None:
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensors (first {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (first {unexpected[0]})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} tensors of the wrong shape (first {k}: file {tuple(state[k].shape)}, "
                        f"config {tuple(expected[k].shape)})")
    if problems:
        raise FusionInputError(f"{weights}: does not match its config: " + "; ".join(problems))


def load_model(folder: Union[str, os.PathLike]) -> FusionModel:
    """Load a model folder (or its config.json) safely; FusionInputError naming the file on any problem."""
    folder = Path(folder)
    if folder.name == CONFIG_NAME:
        folder = folder.parent
    if not folder.exists():
        raise FusionInputError(f"{folder}: model not found")
    config = read_config(folder)
    try:
        architecture = ModelConfig.from_dict(config.get("architecture", {}))
    except (TypeError, ValueError, FusionInputError) as err:
        raise FusionInputError(f"{folder / CONFIG_NAME}: bad architecture ({err})") from None
    weights_info = config.get("weights") or {}
    weights = folder / str(weights_info.get("file", WEIGHTS_NAME))
    state = _read_state(weights, weights_info.get("sha256"))
    net = FusionNet(architecture)
    _check_state(net, state, weights)
    net.load_state_dict(state)
    net.eval()
    pair_types = [p for p in config.get("pair_types", []) if p in PAIR_TYPES]
    return FusionModel(net, pair_types, dict(config.get("provenance") or {}), folder)
