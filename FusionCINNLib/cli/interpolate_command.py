"""``fusioncinn interpolate START TUNED --weight W --out OUT``: a model between a model and its fine-tune."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``interpolate`` sub-command."""
    parser = subparsers.add_parser(
        "interpolate", help="interpolate the weights of a model and its fine-tune",
        description="Write OUT with the weights (1 - W) * START + W * TUNED (WiSE-FT): part of a fine-tune's "
                    "gain at part of its drift from the model it started from. TUNED must be a fine-tune of "
                    "START (fusioncinn train --init START).")
    parser.add_argument("start", type=Path, metavar="START", help="the model the fine-tune started from")
    parser.add_argument("tuned", type=Path, metavar="TUNED", help="the fine-tuned model")
    parser.add_argument("--weight", type=float, required=True, help="TUNED's share, 0 to 1")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write (not START or TUNED)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Interpolate and print where the model went."""
    from ..training.interpolation import interpolate_model_folders

    folder = interpolate_model_folders(args.start, args.tuned, args.weight, args.out)
    print(f"model written to {folder} ({1 - args.weight:g} x {args.start} + {args.weight:g} x {args.tuned})")
    return 0
