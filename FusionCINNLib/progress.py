"""Progress reporting shared by the CLI, the trainer and the Slicer Logic."""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from .errors import FusionCancelled

ProgressCallback = Callable[[float, str], None]
"""Called as ``progress(fraction, message)`` with ``fraction`` in [0, 1]."""

CancelCheck = Callable[[], bool]
"""Returns True when the caller wants the running job to stop."""


def report(progress: Optional[ProgressCallback], fraction: float, message: str,
           cancel: Optional[CancelCheck] = None) -> None:
    """Forward progress to ``progress`` (if any) and raise FusionCancelled if ``cancel()`` says so."""
    if cancel is not None and cancel():
        raise FusionCancelled("cancelled by the user; nothing was written")
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


class ConsoleProgressBar:
    """A text progress bar on stderr that appears only once a job has run longer than ``delay_s``."""

    def __init__(self, label: str, stream: Optional[TextIO] = None, delay_s: float = 1.0, width: int = 30):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.delay_s = delay_s
        self.width = width
        self.start = time.monotonic()
        self.shown = False
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_line = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        elapsed = time.monotonic() - self.start
        if elapsed < self.delay_s:
            return
        eta = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        if not self.interactive:
            if elapsed - self.last_line < 10.0 and fraction < 1.0:
                return
            self.last_line = elapsed
            self.stream.write(f"{self.label}: {100 * fraction:5.1f}% {elapsed:.0f}s eta {eta:.0f}s {message}\n")
            self.stream.flush()
            return
        self.shown = True
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"\r{self.label} [{bar}] {100 * fraction:5.1f}% {elapsed:6.1f}s eta {eta:6.1f}s {message}"
        self.stream.write(line[:160].ljust(100))
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line if it was shown."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
