"""Listing model folders without importing torch, so the model selector fills before PyTorch is installed.

A model folder holds ``config.json`` (format "fusioncinn-model") and its weights; see
``FusionCINNLib/network/model_files.py``. The rule for which folders count is the library's
``available_models``: the shipped models folder itself if it holds a config.json, else its
``*/config.json`` sub-folders, then the same for every extra folder (retrained models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

from .paths import shippedModelsDir

CONFIG_NAME = "config.json"
FORMAT = "fusioncinn-model"


@dataclass
class ModelEntry:
    """One model folder as the panel shows it."""

    path: Path
    pairTypes: List[str]
    shipped: bool
    provenance: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """e.g. ``ct-mri-v1 (ct-mri) - shipped`` or ``my-model (pet-mri) - retrained 2024-05-01, 20 epochs``."""
        pairs = ", ".join(self.pairTypes) or "no pair types"
        if self.shipped:
            return f"{self.name} ({pairs}) - shipped"
        when = str(self.provenance.get("trained", ""))[:10]
        epochs = self.provenance.get("epochs_run")
        extra = ", ".join(x for x in (when, f"{epochs} epochs" if epochs else "") if x)
        return f"{self.name} ({pairs}) - retrained" + (f" {extra}" if extra else "")

    def covers(self, pair: str) -> bool:
        return not self.pairTypes or pair in self.pairTypes


def readModelConfig(folder: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """The parsed config.json of a model folder, or None if it is not a FusionCINN model."""
    path = Path(folder) / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        return None
    return config


def modelFolders(roots: Iterable[Union[str, Path]]) -> List[Path]:
    """Model folders under ``roots``, by the library's ``available_models`` rule."""
    found: List[Path] = []
    for root in map(Path, roots):
        if (root / CONFIG_NAME).is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(p.parent for p in root.glob(f"*/{CONFIG_NAME}")))
    return found


def listModels(userFolders: Iterable[Union[str, Path]] = ()) -> List[ModelEntry]:
    """The shipped models, then the retrained ones in ``userFolders``; unreadable folders are skipped."""
    shippedRoot = shippedModelsDir()
    entries: List[ModelEntry] = []
    seen = set()
    for shipped, roots in ((True, [shippedRoot]), (False, list(userFolders))):
        for folder in modelFolders(roots):
            key = folder.resolve()
            config = readModelConfig(folder)
            if config is None or key in seen:
                continue
            seen.add(key)
            pairs = [str(p) for p in config.get("pair_types", [])]
            entries.append(ModelEntry(folder, pairs, shipped, dict(config.get("provenance") or {})))
    return entries
