"""Splitting a folder batch across machines or array jobs: ``--num-parts N --part-id I`` (nnU-Net's convention),
``--skip-existing`` and ``--report FILE.json``, for ``fusioncinn fuse A_DIR B_DIR -o OUT_DIR``.

A case goes to part ``sha256(name) mod N``: it depends on the case's name alone, never on what else is in the
folders or on the machine, the Python version or the order of the listing, so N runs over the same folders
cover every case exactly once, even when cases are added between the runs' starts.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Iterable, List

from ..errors import FusionInputError

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the batch options to the ``fuse`` parser."""
    group = parser.add_argument_group("folder batches (A and B are folders of pairs)")
    group.add_argument("--num-parts", type=int, default=1, metavar="N",
                       help="split the batch into N parts by case name, one per machine or array job (default 1)")
    group.add_argument("--part-id", type=int, default=0, metavar="I",
                       help="fuse part I, 0 <= I < N (for example $SLURM_ARRAY_TASK_ID; default 0)")
    group.add_argument("--skip-existing", action="store_true",
                       help="keep a case whose fused file already exists (an interrupted batch continues; "
                            "outputs are written atomically, so an existing file is complete)")
    group.add_argument("--report", type=Path, default=None, metavar="FILE.json",
                       help="write one record per case (inputs, output, status, message, seconds per stage, "
                            "registration metric, device) to FILE.json, rewritten atomically after each case")


def check_arguments(args: argparse.Namespace) -> None:
    """FusionInputError (one line, exit 2) for part numbers out of range."""
    if args.num_parts < 1:
        raise FusionInputError(f"--num-parts must be >= 1, got {args.num_parts}")
    if not 0 <= args.part_id < args.num_parts:
        raise FusionInputError(f"--part-id must be 0 to {args.num_parts - 1} for --num-parts {args.num_parts}, "
                               f"got {args.part_id}")


def batch_options_given(args: argparse.Namespace) -> List[str]:
    """The batch options set on the command line (a single pair refuses them)."""
    given = [args.num_parts != 1 or args.part_id != 0, args.skip_existing, args.report is not None]
    names = ["--num-parts/--part-id", "--skip-existing", "--report"]
    return [name for name, on in zip(names, given) if on]


def case_part(name: str, num_parts: int) -> int:
    """The part (0 to num_parts - 1) that the case ``name`` belongs to: the SHA-256 of its UTF-8 name mod N."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % num_parts


def part_of(names: Iterable[str], num_parts: int, part_id: int) -> List[str]:
    """The names of part ``part_id``, sorted."""
    return sorted(name for name in names if case_part(name, num_parts) == part_id)
