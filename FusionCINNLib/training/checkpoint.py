"""Training checkpoints: one file per epoch, written atomically, each with a SHA-256 sidecar.

Folder layout: ``epoch-00012.pt`` + ``epoch-00012.pt.sha256``; the newest two are kept. The
checkpoint file is renamed into place first and its sidecar second, so a process killed at any
moment leaves at worst a newest file without a valid sidecar, which loading skips. Loading takes
the newest checkpoint whose checksum is right. Files are read with ``torch.load(weights_only=True)``:
tensors and plain containers only, no code.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..atomic import atomic_output
from ..hashing import file_sha256

KEEP = 2
PATTERN = "epoch-*.pt"


def _checkpoints(folder: Path) -> List[Path]:
    """Checkpoint files in ``folder``, newest (highest epoch) first."""
    return sorted(folder.glob(PATTERN), reverse=True)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(state: Dict[str, Any], folder: Path) -> Path:
    """Write ``state`` (with an int "epoch") as folder/epoch-NNNNN.pt and drop all but the newest two."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch-{int(state['epoch']):05d}.pt"
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    with atomic_output(_sidecar(path)) as tmp:
        tmp.write_text(file_sha256(path) + "\n", encoding="ascii")
    for old in _checkpoints(folder)[KEEP:]:
        with contextlib.suppress(FileNotFoundError):
            _sidecar(old).unlink()
            old.unlink()
    return path


def _valid(path: Path) -> bool:
    sidecar = _sidecar(path)
    return sidecar.is_file() and sidecar.read_text(encoding="ascii").strip() == file_sha256(path)


def load_checkpoint(folder: Path) -> Optional[Tuple[Dict[str, Any], Path]]:
    """The newest checkpoint in ``folder`` whose checksum is right, with its path; None if there is none."""
    for path in _checkpoints(folder):
        if _valid(path):
            return torch.load(path, map_location="cpu", weights_only=True), path
        print(f"warning: {path} is corrupt or incomplete (checksum mismatch); trying an older checkpoint",
              file=sys.stderr)
    return None
