"""``fusioncinn phantom OUTDIR [--seed N]``: write the digital head phantom (CT, MRI, PET + ground truth)."""

from __future__ import annotations

import argparse
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``phantom`` sub-command."""
    parser = subparsers.add_parser(
        "phantom", help="write a synthetic head (CT, MRI, PET) with known misalignment",
        description="Write ct.nii.gz (HU), mri.nii.gz (T1, oblique), pet.nii.gz (FDG-like) and phantom.json "
                    "(ground-truth transforms and landmarks, LPS mm) into OUTDIR.")
    parser.add_argument("outdir", metavar="OUTDIR", help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the phantom and print what was written."""
    from ..phantom import write_head_phantom

    start = time.perf_counter()
    paths = write_head_phantom(args.outdir, seed=args.seed)
    for key in ("ct", "mri", "pet", "json"):
        print(paths[key])
    print(f"phantom (seed {args.seed}) written in {time.perf_counter() - start:.1f} s")
    return 0
