"""Ctrl-C, SIGTERM and SIGHUP in the CLI: stop cleanly, whatever C++ code is running.

A KeyboardInterrupt raised inside a SimpleITK callback (registration progress) cannot cross the
C++ frames: SWIG prints a traceback and turns it into "error executing the Python Callable". So
while the engine runs (inside :func:`deferred`), a signal only sets a flag that the engine's
``cancel`` check sees at its next progress report; the job stops there and the block raises
KeyboardInterrupt. Outside such a block, or on a second signal, KeyboardInterrupt is raised at once.
SIGXFSZ is ignored, so a file size limit (ulimit -f) fails the write with EFBIG instead of killing
the process. Every handler is restored afterwards (main() may run inside another program).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator, Optional

from ..errors import FusionCancelled

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class _State:
    deferring = 0
    """Blocks inside :func:`deferred` now (folder batches fuse pictures in several threads at once)."""
    received: Optional[int] = None


_COUNT_LOCK = threading.Lock()


def _on_signal(signum: int, frame: object) -> None:
    if _State.deferring and _State.received is None:
        _State.received = signum
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Install the stop handlers (main thread only) for the duration of a command."""
    wanted = {getattr(signal, name): _on_signal for name in STOP_SIGNALS if hasattr(signal, name)}
    if hasattr(signal, "SIGXFSZ"):
        wanted[signal.SIGXFSZ] = signal.SIG_IGN
    if threading.current_thread() is not threading.main_thread():
        wanted = {}
    previous = {number: signal.signal(number, handler) for number, handler in wanted.items()}
    _State.deferring, _State.received = 0, None
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def deferred() -> Iterator[Callable[[], bool]]:
    """Yield a ``cancel()`` check for the engine; a stop signal makes it True, and the block then
    raises KeyboardInterrupt (also when the engine finished or raised FusionCancelled first). Blocks may run
    in several threads at once: a signal is deferred while any of them runs, and each raises at its end."""
    with _COUNT_LOCK:
        _State.deferring += 1
    try:
        yield lambda: _State.received is not None
    except FusionCancelled:
        if _State.received is None:
            raise
    finally:
        with _COUNT_LOCK:
            _State.deferring -= 1
    if _State.received is not None:
        raise KeyboardInterrupt
