"""A child process whose whole process tree can be stopped, with its output read line by line.

Inside Slicer the child is started as ``PythonSlicer ...``, which is CTKAppLauncher: it sets up the
environment and starts ``python-real`` as *its* child, and does not pass signals on. Terminating
the ``PythonSlicer`` process therefore leaves the real worker running (and holding the output pipe
open). SlicerMONAIAuto3DSeg (``MONAIAuto3DSegLib/process.py``) kills every descendant with psutil for
this reason. Here, without psutil:

- POSIX: the child starts a new session (its own process group, ``start_new_session=True``), and
  cancel sends SIGTERM to the whole group (launcher and worker; the FusionCINN command line turns
  SIGTERM into a clean stop that keeps no partial output), then SIGKILL to what is left after the
  timeout.
- Windows: ``taskkill /T /F`` ends the tree (Windows has no SIGTERM for a windowless child; outputs
  are written atomically, so a killed writer leaves only a temporary file that is cleaned up later).

A reader thread collects the merged stdout/stderr; the panel polls :meth:`ChildProcess.readLines`
from a QTimer, so nothing here needs qt.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .paths import ensureLibraryOnPath

WINDOWS = sys.platform == "win32"


def libraryEnvironment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """This process's environment with the library's folder first on PYTHONPATH and unbuffered output."""
    env = dict(os.environ)
    libraryParent = str(ensureLibraryOnPath())
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != libraryParent]
    env["PYTHONPATH"] = os.pathsep.join([libraryParent, *rest])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def groupAlive(pgid: int) -> bool:
    """True while any process of the POSIX process group ``pgid`` exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stopProcessTree(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop ``process`` and every process it started (see the module docstring). Returns when the
    tree has ended, or after ``timeout`` s and a forced kill."""
    if WINDOWS:
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True,
                       creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return
    pgid = process.pid  # start_new_session: the child leads its own group
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        process.poll()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, so that only live members keep the group alive
        if not groupAlive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


class ChildProcess:
    """One command in a child process tree. Not thread-safe: use it from one (the GUI) thread."""

    def __init__(self, command: Sequence[str], cwd: Optional[Union[str, Path]] = None,
                 env: Optional[Dict[str, str]] = None):
        self.command = [str(c) for c in command]
        self.cwd = str(cwd) if cwd else None
        self.extraEnv = dict(env or {})
        self.process: Optional[subprocess.Popen] = None
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.log: List[str] = []
        self.cancelRequested = False
        self._reader: Optional[threading.Thread] = None

    def start(self) -> "ChildProcess":
        if WINDOWS:
            options = dict(creationflags=subprocess.CREATE_NEW_PROCESS_GROUP
                           | getattr(subprocess, "CREATE_NO_WINDOW", 0))
        else:
            options = dict(start_new_session=True)
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=libraryEnvironment(self.extraEnv),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        text=True, encoding="utf-8", errors="replace", bufsize=1, **options)
        self._reader = threading.Thread(target=self._read, name="FusionCINN child output", daemon=True)
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
        """Lines received since the last call (also appended to :attr:`log`)."""
        new: List[str] = []
        while True:
            try:
                new.append(self.lines.get_nowait())
            except queue.Empty:
                break
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
        """The process ended and its output pipe is closed (every process of the tree that held it ended)."""
        return (self.process is not None and self.process.poll() is not None
                and (self._reader is None or not self._reader.is_alive()))

    @property
    def succeeded(self) -> bool:
        return self.finished and self.returncode == 0 and not self.cancelRequested

    def cancel(self, timeout: float = 15.0) -> None:
        """Stop the whole process tree: a clean stop first, a kill after ``timeout`` s."""
        self.cancelRequested = True
        if self.process is None:
            return
        stopProcessTree(self.process, timeout)

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        """Block until the child ends and its output is read (tests and console use); returns its exit code."""
        if self.process is None:
            return None
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        self.readLines()
        return code
