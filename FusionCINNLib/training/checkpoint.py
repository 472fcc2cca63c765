"""Training checkpoints: written atomically with a SHA-256 sidecar; the previous good one is kept.

Folder layout: ``last.pt`` (+ ``last.pt.sha256``) and ``previous.pt`` (+ sidecar). Loading verifies
the checksum and falls back to ``previous.pt`` when ``last.pt`` is missing or corrupt. Files are read
with ``torch.load(weights_only=True)``: tensors and plain containers only, no code.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from ..atomic import atomic_output

LAST, PREVIOUS = "last.pt", "previous.pt"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(state: Dict[str, Any], folder: Path) -> Path:
    """Write ``state`` as folder/last.pt (the old last.pt becomes previous.pt). Returns last.pt's path."""
    folder.mkdir(parents=True, exist_ok=True)
    last, previous = folder / LAST, folder / PREVIOUS
    staged = folder / "staged.pt"
    with atomic_output(staged) as tmp:
        torch.save(state, tmp)
    digest = _digest(staged)
    if last.exists():
        os.replace(last, previous)
        sidecar = folder / (LAST + ".sha256")
        if sidecar.exists():
            os.replace(sidecar, folder / (PREVIOUS + ".sha256"))
    with atomic_output(folder / (LAST + ".sha256")) as tmp:
        tmp.write_text(digest + "\n", encoding="ascii")
    os.replace(staged, last)
    return last


def _valid(path: Path) -> bool:
    sidecar = path.with_name(path.name + ".sha256")
    if not path.is_file() or not sidecar.is_file():
        return False
    return sidecar.read_text(encoding="ascii").strip() == _digest(path)


def load_checkpoint(folder: Path) -> Optional[Tuple[Dict[str, Any], Path]]:
    """The newest checkpoint in ``folder`` whose checksum is right, with its path; None if there is none."""
    for name in (LAST, PREVIOUS):
        path = folder / name
        if _valid(path):
            return torch.load(path, map_location="cpu", weights_only=True), path
        if path.exists():
            print(f"warning: {path} is corrupt (checksum mismatch); trying an older checkpoint", file=sys.stderr)
    return None
