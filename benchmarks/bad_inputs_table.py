"""Run every bad input of Testing/lib/bad_input_cases.py, plus a full disk and a SIGTERM mid-run, through a
real ``python -m FusionCINNLib`` process each, and print the Markdown table of Testing/README.md.

    .venv/bin/python benchmarks/bad_inputs_table.py

For each case: the exit code, the error line (work folder stripped from paths), whether stderr held
a traceback, whether any output or temporary (*.partial*) file was left, and whether any input
changed (bytes or mtime). Free memory is simulated where a case says so. Exit code 1 when any case
misbehaves.
"""

from __future__ import annotations

import os
import pty
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "Testing"), str(ROOT / "Testing" / "lib")]

from bad_input_cases import (CASES, ct_array, fuse, mri_array, outputs, partials, snapshot,  # noqa: E402
                             write_volume)
from conftest import TINY, perturb  # noqa: E402
from FusionCINNLib.network import FusionNet  # noqa: E402
from FusionCINNLib.network.model_files import FusionModel, save_model  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
LIMITED_MEMORY = ("import sys, FusionCINNLib.memory as m; m._meminfo_available = lambda: {mb} * 2 ** 20; "
                  "m._cgroup_room = lambda: None; from FusionCINNLib.cli.main import main; "
                  "sys.exit(main(sys.argv[1:]))")
Row = Tuple[str, int, int, str, bool, bool, bool]


def command(argv: List[str], free_memory_mb: Optional[int] = None) -> List[str]:
    if free_memory_mb is None:
        return [sys.executable, "-m", "FusionCINNLib", *argv]
    return [sys.executable, "-c", LIMITED_MEMORY.format(mb=free_memory_mb), *argv]


def message(stderr: str, work: Path) -> str:
    """The error (or skip) line, with the work folder removed from paths."""
    lines = [ln for ln in stderr.splitlines() if re.match(r"fusioncinn \w+: |  skipped", ln)]
    text = (lines or stderr.strip().splitlines()[-1:] or [""])[-1].strip()
    return text.replace(str(work) + os.sep, "").replace(str(work), ".")


def judge(label: str, work: Path, expected: int, stderr: str, code: int, before) -> Row:
    left = [p for p in outputs(work) if not label.startswith("mismatched pair folders")] + partials(work)
    return label, expected, code, message(stderr, work), "Traceback" in stderr, bool(left), snapshot(work) != before


def run_case(case, work: Path, model: Path) -> Row:
    argv = case.build(work, model)
    before = snapshot(work)
    done = subprocess.run(command(argv, case.free_memory_mb), capture_output=True, text=True, env=ENV, cwd=work,
                          timeout=600)
    return judge(case.label, work, case.code, done.stderr, done.returncode, before)


def run_disk_full(work: Path, model: Path) -> Row:
    ct = write_volume(work / "ct.nii.gz", ct_array(0))
    mri = write_volume(work / "mri.nii.gz", mri_array(1))
    argv = fuse(ct, mri, work / "out.nii.gz", model, "ct-mri", "--no-register")
    before = snapshot(work)
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.RLIM_INFINITY))  # noqa: E731
    done = subprocess.run(command(argv), capture_output=True, text=True, env=ENV, cwd=work, timeout=600,
                          preexec_fn=limit)
    return judge("disk full while writing (RLIMIT_FSIZE 20 kB)", work, 1, done.stderr, done.returncode, before)


def run_sigterm(work: Path, model: Path) -> Row:
    shape = (24, 96, 112)
    ct = write_volume(work / "ct.nii.gz", ct_array(0, shape))
    mri = write_volume(work / "mri.nii.gz", mri_array(1, shape), spacing=(1.0, 1.0, 2.5))
    argv = fuse(ct, mri, work / "out.nii.gz", model)
    before = snapshot(work)
    master, slave = pty.openpty()
    process = subprocess.Popen(command(argv), stderr=slave, stdout=subprocess.DEVNULL, env=ENV, cwd=work)
    os.close(slave)
    seen, deadline = "", time.monotonic() + 300
    while "fusing ct.nii.gz [" not in seen and time.monotonic() < deadline and process.poll() is None:
        if select.select([master], [], [], 0.5)[0]:
            seen += os.read(master, 4096).decode(errors="replace")
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=300)
    while select.select([master], [], [], 1.0)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk.decode(errors="replace")
    os.close(master)
    stderr = seen.replace("\r", "\n")
    return judge("SIGTERM during registration", work, 130, stderr, code, before)


def markdown(rows: List[Row]) -> str:
    lines = ["| bad input | exit code | message | traceback | output or temp file left | inputs changed |",
             "|---|---|---|---|---|---|"]
    for label, expected, code, text, traceback, left, changed in rows:
        flag = "" if code == expected else f" (expected {expected})"
        text = text.replace("|", "\\|").replace("`", "'")
        lines.append(f"| {label} | {code}{flag} | `{text}` | {'YES' if traceback else 'no'} | "
                     f"{'YES' if left else 'no'} | {'YES' if changed else 'no'} |")
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        model = save_model(FusionModel(perturb(FusionNet(TINY)).eval(), ["ct-mri", "pet-mri", "spect-mri"],
                                       {"note": "tiny random test model"}), root / "model")
        rows = []
        runners = [(case.label, lambda w, c=case: run_case(c, w, model)) for case in CASES]
        runners += [("disk full", lambda w: run_disk_full(w, model)), ("sigterm", lambda w: run_sigterm(w, model))]
        for index, (label, runner) in enumerate(runners):
            work = root / f"case{index:02d}"
            work.mkdir()
            started = time.perf_counter()
            rows.append(runner(work))
            print(f"{label}: exit {rows[-1][2]} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(markdown(rows))
    bad = [r for r in rows if r[1] != r[2] or r[4] or r[5] or r[6]]
    print(f"\n{len(rows)} cases: {sum(r[1] == r[2] for r in rows)} with the expected exit code, "
          f"{sum(r[4] for r in rows)} tracebacks, {sum(r[5] for r in rows)} left an output or temporary file, "
          f"{sum(r[6] for r in rows)} changed an input.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
