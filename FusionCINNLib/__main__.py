"""``python -m FusionCINNLib`` is the same as the ``fusioncinn`` command.

Stop signals are handled from the first line: before the command's own handlers are in place (while
torch loads) a signal ends the process at once with exit code 130, as nothing has been written yet;
once the command has returned, a late signal is ignored, so a finished run keeps its exit code.
"""

import os
import signal
import sys

STOP_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


def _stop_at_once(signum: int, frame: object) -> None:
    os.write(2, b"fusioncinn: interrupted; no partial output was kept\n")
    os._exit(130)


for _number in STOP_SIGNALS:
    signal.signal(_number, _stop_at_once)

from .cli.main import main  # noqa: E402  (after the handlers, on purpose)

_code = main()
for _number in STOP_SIGNALS:
    signal.signal(_number, signal.SIG_IGN)
sys.exit(_code)
