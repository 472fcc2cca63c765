"""Start-up time of the ``fusioncinn`` command: wall seconds of fresh processes (best and median of
--repeats runs) for ``--help``, an argument error, ``fuse --help``, ``--version`` and ``phantom``, and
whether each one imported torch. Also the time of a bare ``import FusionCINNLib``.

    .venv/bin/python benchmarks/startup.py [--repeats N]

Runs ``python -m FusionCINNLib`` from this checkout (the same code as the ``fusioncinn`` script).
For the import tree of one command: ``python -X importtime -m FusionCINNLib --help 2> imports.txt``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]

REPORT_TORCH = ("import sys, runpy; sys.argv = ['fusioncinn'] + sys.argv[1:]\n"
                "try:\n    runpy.run_module('FusionCINNLib', run_name='__main__')\n"
                "finally:\n    sys.stderr.write('torch loaded: %s\\n' % ('torch' in sys.modules))\n")
"""Runs the command as ``python -m FusionCINNLib`` does, then reports on stderr whether torch was imported."""


def time_command(arguments: List[str], repeats: int) -> Tuple[float, float, bool]:
    """(best s, median s, torch imported) of ``fusioncinn ARGUMENTS`` in fresh interpreters."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    times, torch_loaded = [], False
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", REPORT_TORCH, *arguments], capture_output=True, text=True,
                              env=env, cwd=REPO)
        times.append(time.perf_counter() - start)
        torch_loaded = "torch loaded: True" in done.stderr
    return min(times), statistics.median(times), torch_loaded


def time_import(repeats: int) -> Tuple[float, float, bool]:
    """(best s, median s, torch imported) of ``import FusionCINNLib`` in fresh interpreters."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys, FusionCINNLib; print('torch' in sys.modules)"
    times, output = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), output.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best/median of {args.repeats} fresh processes")
    print(f"{'command':<44}{'best s':>8}{'median s':>10}  torch")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [["--help"], ["fuse"], ["fuse", "--help"], ["--version"], ["phantom", str(Path(tmp) / "phantom")]]
        rows = [("import FusionCINNLib", time_import(args.repeats))]
        rows += [("fusioncinn " + " ".join(c if not c.startswith(tmp) else "OUT" for c in case),
                  time_command(case, args.repeats)) for case in cases]
    for label, (best, median, torch_loaded) in rows:
        print(f"{label:<44}{best:>8.2f}{median:>10.2f}  {'yes' if torch_loaded else 'no'}")


if __name__ == "__main__":
    main()
