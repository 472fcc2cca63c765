"""Entry point of ``fusioncinn`` and ``python -m FusionCINNLib``.

Exit codes: 0 success, 2 bad input (FusionInputError, argparse errors), 1 failure while running,
130 interrupted. No Python traceback is printed unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from typing import List, Optional

from ..errors import FusionError

COMMAND_MODULES = ("fuse", "train", "evaluate", "phantom", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command whose module is present."""
    parser = argparse.ArgumentParser(
        prog="fusioncinn",
        description="Multimodal medical image fusion (CT-MRI, PET-MRI, SPECT-MRI) with a conditional invertible network.")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
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


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv``, run the sub-command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return int(args.func(args) or 0)
    except FusionError as err:
        if args.debug:
            traceback.print_exc()
        print(f"fusioncinn {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"\nfusioncinn {args.command}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except MemoryError:
        if args.debug:
            traceback.print_exc()
        print(f"fusioncinn {args.command}: error: out of memory; try a smaller --batch-size", file=sys.stderr)
        return 1
    except OSError as err:
        if args.debug:
            traceback.print_exc()
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"fusioncinn {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
