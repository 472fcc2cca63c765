"""Catch what ITK, GDCM and the NIfTI C library print straight to file descriptor 2.

Their warnings ("** ERROR: NWAD: wrote only ...", "Non uniform sampling ...") would otherwise land
on the user's terminal beside our one-line error. They are collected instead, and the useful last
line is put into that error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator, List

MAX_BYTES = 64 * 1024


@contextlib.contextmanager
def native_stderr() -> Iterator[List[str]]:
    """Redirect fd 2 while the block runs; the yielded list holds the non-blank lines printed there."""
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
