"""Keep freed tensor memory in the process for the next slice (glibc on Linux).

Fusing one slice on the CPU allocates and frees tens of tensors of 0.1-8 MB. With glibc's default
settings many of these are mapped fresh from the system and returned on free, so each slice faults
its working memory in again, page by page: about 1000-5000 page faults a 256x256 slice and 5000-10000
a 512x512 one, 10-15 % of the CPU time (docs/speed.md, "Third round"). Raising malloc's mmap threshold
to ``MMAP_THRESHOLD_BYTES`` and its trim threshold to ``TRIM_THRESHOLD_BYTES`` keeps those blocks in the
heap for reuse: at most ``TRIM_THRESHOLD_BYTES`` of freed memory a malloc arena stays with the process,
and larger arrays (whole volumes) are still mapped and returned as before.

The setting is process-wide, so only FusionCINN's own processes make it: the ``fusioncinn`` command
and the Slicer module's background worker. A program that imports the library (Slicer itself, when
the Logic fuses in-process) keeps its allocator as it is, unless it calls :func:`keep_freed_memory`.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt parameter numbers from glibc's <malloc.h>."""

MMAP_THRESHOLD_BYTES = 32 * 1024 ** 2
TRIM_THRESHOLD_BYTES = 64 * 1024 ** 2

_LOCK = threading.Lock()
_applied = False


def keep_freed_memory() -> bool:
    """Set the malloc thresholds above, once per process. Returns True when they are set (glibc on Linux),
    False where the C library is another one (nothing is changed there)."""
    global _applied
    with _LOCK:
        if _applied:
            return True
        if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
            return False
        try:
            mallopt = ctypes.CDLL("libc.so.6").mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
        return _applied
