"""Retraining in a separate process: ``PythonSlicer -m FusionCINNLib train ...``.

The GUI stays responsive because the training runs in its own Python process (Slicer's
``PythonSlicer``, the same interpreter and packages as Slicer). A reader thread collects the merged
stdout/stderr lines; the widget polls :meth:`TrainingProcess.readLines` from a timer, shows the log
and parses the progress lines the trainer prints (``training:  12.3% 40s eta 300s epoch 2/20 loss ...``;
without a terminal the trainer prints one such line every 10 s and one per finished run).
Cancel sends SIGTERM (TerminateProcess on Windows); the CLI turns it into a clean exit (code 130)
that keeps no partial model; the checkpoints in ``<model>.training/`` stay, for ``--resume``.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .paths import ensureLibraryOnPath

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


class TrainingProcess:
    """One training run in a child process. Not thread-safe: use it from one (the GUI) thread."""

    def __init__(self, command: Sequence[str], cwd: Optional[Union[str, Path]] = None,
                 env: Optional[Dict[str, str]] = None, modelFolder: Optional[Union[str, Path]] = None):
        self.command = list(command)
        self.modelFolder = Path(modelFolder) if modelFolder else None
        self.cwd = str(cwd) if cwd else None
        self.extraEnv = dict(env or {})
        self.process: Optional[subprocess.Popen] = None
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.log: List[str] = []
        self.fraction = 0.0
        self.epoch: Optional[int] = None
        self.epochs: Optional[int] = None
        self.cancelRequested = False
        self._reader: Optional[threading.Thread] = None

    def environment(self) -> Dict[str, str]:
        """This process's environment with the library's folder first on PYTHONPATH, unbuffered output."""
        env = dict(os.environ)
        libraryParent = str(ensureLibraryOnPath())
        env["PYTHONPATH"] = os.pathsep.join([libraryParent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extraEnv)
        return env

    def start(self) -> "TrainingProcess":
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.environment(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                        encoding="utf-8", errors="replace", bufsize=1, creationflags=flags)
        self._reader = threading.Thread(target=self._read, name="FusionCINN training log", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for chunk in self.process.stdout:
            for line in chunk.replace("\r", "\n").split("\n"):
                if line.strip():
                    self.lines.put(line.rstrip())
        self.process.stdout.close()

    def readLines(self) -> List[str]:
        """Lines received since the last call; updates :attr:`fraction` and :attr:`epoch`."""
        new: List[str] = []
        while True:
            try:
                new.append(self.lines.get_nowait())
            except queue.Empty:
                break
        for line in new:
            fraction = parseProgress(line)
            if fraction is not None:
                self.fraction = max(self.fraction, min(1.0, fraction))
            epoch = EPOCH_PATTERN.search(line)
            if epoch:
                self.epoch, self.epochs = int(epoch.group(1)), int(epoch.group(2))
        self.log.extend(new)
        return new

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return None if self.process is None else self.process.poll()

    @property
    def finished(self) -> bool:
        """The process ended and every line of its output has been read by the reader thread."""
        return (self.process is not None and self.process.poll() is not None
                and (self._reader is None or not self._reader.is_alive()))

    @property
    def succeeded(self) -> bool:
        return self.finished and self.returncode == 0 and not self.cancelRequested

    def cancel(self, timeout: float = 15.0) -> None:
        """Ask the child to stop (SIGTERM), and kill it if it has not stopped after ``timeout`` s."""
        self.cancelRequested = True
        if not self.running:
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        """Block until the child ends (tests and console use); returns its exit code."""
        if self.process is None:
            return None
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        self.readLines()
        return code
