"""Retraining in a separate process: ``PythonSlicer -m FusionCINNLib train ...``.

The GUI stays responsive because the training runs in its own Python process (Slicer's
``PythonSlicer``, the same interpreter and packages as Slicer). A reader thread collects the merged
stdout/stderr lines; the widget polls :meth:`TrainingProcess.readLines` from a timer, shows the log
and parses the progress lines the trainer prints (``training:  12.3% 40s eta 300s epoch 2/20 loss ...``;
without a terminal the trainer prints one such line every 10 s and one per finished run).
Cancel stops the whole process tree (``PythonSlicer`` is a launcher that starts ``python-real``;
see processes.py): SIGTERM, which the CLI turns into a clean exit (code 130) that keeps no partial
model; the checkpoints in ``<model>.training/`` stay, for ``--resume``.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .processes import ChildProcess

PROGRESS_PATTERN = re.compile(r"training:\s*([0-9]+(?:\.[0-9]+)?)%")
EPOCH_PATTERN = re.compile(r"epoch\s+(\d+)/(\d+)")
TRAIN_PAIRS = ("ct-mri", "pet-mri", "spect-mri", "all")


def pythonExecutable() -> str:
    """Slicer's ``PythonSlicer`` when it is on PATH (inside Slicer), else this interpreter."""
    return shutil.which("PythonSlicer") or sys.executable


def trainCommand(data: Union[str, Path], out: Union[str, Path], pair: str, epochs: int, device: str = "auto",
                 extraArgs: Sequence[str] = (), python: Optional[str] = None) -> List[str]:
    """The command line of one training run (the CLI's ``train`` sub-command)."""
    if pair not in TRAIN_PAIRS:
        raise ValueError(f"unknown pair {pair!r}; expected one of {', '.join(TRAIN_PAIRS)}")
    if int(epochs) < 1:
        raise ValueError("epochs must be >= 1")
    return [python or pythonExecutable(), "-m", "FusionCINNLib", "train", "--data", str(data), "--pair", pair,
            "--out", str(out), "--epochs", str(int(epochs)), "--device", device, *map(str, extraArgs)]


def parseProgress(line: str) -> Optional[float]:
    """The fraction (0..1) in a trainer progress line, or None."""
    match = PROGRESS_PATTERN.search(line)
    return float(match.group(1)) / 100.0 if match else None


class TrainingProcess(ChildProcess):
    """One training run in a child process tree (see processes.py); parses the trainer's progress lines."""

    def __init__(self, command: Sequence[str], cwd: Optional[Union[str, Path]] = None,
                 env: Optional[Dict[str, str]] = None, modelFolder: Optional[Union[str, Path]] = None):
        super().__init__(command, cwd, env)
        self.modelFolder = Path(modelFolder) if modelFolder else None
        self.fraction = 0.0
        self.epoch: Optional[int] = None
        self.epochs: Optional[int] = None

    def readLines(self) -> List[str]:
        """Lines received since the last call; updates :attr:`fraction` and :attr:`epoch`."""
        new = super().readLines()
        for line in new:
            fraction = parseProgress(line)
            if fraction is not None:
                self.fraction = max(self.fraction, min(1.0, fraction))
            epoch = EPOCH_PATTERN.search(line)
            if epoch:
                self.epoch, self.epochs = int(epoch.group(1)), int(epoch.group(2))
        return new
