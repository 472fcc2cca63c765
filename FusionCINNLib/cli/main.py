"""Entry point of ``fusioncinn`` and ``python -m FusionCINNLib``.

Exit codes: 0 success, 2 bad input (FusionInputError, argparse errors), 1 failure while running,
130 interrupted. No Python traceback, and no library warning, is printed unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from typing import List, Optional, Tuple

from ..atomic import DISK_FULL_ERRNOS
from ..errors import FusionError, FusionWarning
from ..fusion.allocator import keep_freed_memory
from . import interrupts
from .version import VersionAction

COMMAND_MODULES = ("fuse", "train", "interpolate", "evaluate", "phantom", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command whose module is present."""
    parser = argparse.ArgumentParser(
        prog="fusioncinn",
        description="Multimodal medical image fusion (CT-MRI, PET-MRI, SPECT-MRI) with a conditional invertible "
                    "network.")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    parser.add_argument("--version", action=VersionAction,
                        help="print the version and each shipped model's name, pair types and checksum")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}_command")
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.{name}_command":
                raise
            continue
        module.register(subparsers)
    return parser


def _os_error_message(err: OSError) -> str:
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    if err.errno in DISK_FULL_ERRNOS:
        return f"disk full while writing{where} ({err.strerror})"
    return f"{err.strerror or err}{where}"


def _internal_error_message(err: Exception) -> str:
    text = str(err).strip().splitlines()
    detail = f": {text[0][:200]}" if text else ""
    return f"internal error: {type(err).__name__}{detail} (run with --debug for the traceback, and please report it)"


def _classify(err: BaseException) -> Tuple[int, str]:
    """(exit code, one-line message) for an exception that ended a sub-command."""
    if isinstance(err, FusionError):
        return err.exit_code, f"error: {err}"
    if isinstance(err, KeyboardInterrupt):
        return 130, "interrupted; no partial output was kept"
    if isinstance(err, MemoryError):
        return 1, "error: out of memory; try a smaller --batch-size or a smaller volume"
    if isinstance(err, OSError):
        return 1, f"error: {_os_error_message(err)}"
    return 1, _internal_error_message(err)


def _show_fusion_warnings(command: str) -> None:
    """Print every FusionWarning as one line, ``fusioncinn COMMAND: warning: ...``; other warnings keep the
    filter set before (ignored unless --debug). Call inside ``warnings.catch_warnings()``, which restores."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, FusionWarning):
            print(f"fusioncinn {command}: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", FusionWarning)
    warnings.showwarning = show


def _run(args: argparse.Namespace) -> Tuple[int, str]:
    """(exit code, error message or '') of the sub-command; the traceback only with --debug."""
    try:
        return int(args.func(args) or 0), ""
    except (Exception, KeyboardInterrupt) as err:
        if args.debug:
            traceback.print_exc()
        return _classify(err)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv``, run the sub-command and return its exit code (argparse errors: 2, ``--help``: 0).

    The stop-signal handlers are installed before anything heavy is imported: a Ctrl-C while the
    command modules load (torch) is exit code 130 and one line, not a traceback."""
    with interrupts.installed(), warnings.catch_warnings():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
        except SystemExit as done:
            return done.code if isinstance(done.code, int) else 2
        except KeyboardInterrupt:
            print("fusioncinn: interrupted; no partial output was kept", file=sys.stderr)
            return 130
        if not args.debug:
            warnings.simplefilter("ignore")
        _show_fusion_warnings(args.command)
        keep_freed_memory()
        code, message = _run(args)
        if message:
            if code == 130 and args.command == "train":
                message += "; continue from the last checkpoint with --resume"
            start = "\n" if code == 130 and sys.stderr.isatty() else ""
            print(f"{start}fusioncinn {args.command}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
