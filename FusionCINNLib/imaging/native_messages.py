"""Catch what ITK, GDCM and the NIfTI C library print straight to file descriptor 2.

Their warnings ("** ERROR: NWAD: wrote only ...", "Non uniform sampling ...") would otherwise land
on the user's terminal beside our one-line error. They are collected instead, and the useful last
line is put into that error. File descriptor 2 belongs to the whole process, so one thread at a time
redirects it (a folder batch reads and writes pictures in several threads): two overlapping redirections
would restore each other's temporary file, and stderr would stay lost after them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Iterator, List

MAX_BYTES = 64 * 1024


_REDIRECTING = threading.RLock()
"""Held while fd 2 is redirected (re-entrant: a block may open another in the same thread)."""


@contextlib.contextmanager
def native_stderr() -> Iterator[List[str]]:
    """Redirect fd 2 while the block runs; the yielded list holds the non-blank lines printed there. Other
    threads' blocks wait for this one to end."""
    with _REDIRECTING:
        with _redirected() as lines:
            yield lines


@contextlib.contextmanager
def _redirected() -> Iterator[List[str]]:
    lines: List[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(MAX_BYTES).decode("utf-8", errors="replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


def last_message(lines: List[str]) -> str:
    """The most telling captured line: the last one naming an error, else the last one."""
    errors = [line for line in lines if "error" in line.lower() or "fail" in line.lower()]
    return (errors or lines or [""])[-1][:200]
