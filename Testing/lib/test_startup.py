"""Start-up: ``fusioncinn --help``, argument errors, ``--version`` and ``phantom`` answer without loading torch;
``import FusionCINNLib`` is cheap and loads torch on first use of a name that needs it. Each case runs in a
fresh interpreter, which reports the modules it ended up with (behaviour, not timing: benchmarks/startup.py
measures the seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numpy", "SimpleITK", "scipy", "FrEIA")

RUN_CLI = """
import json, sys
from FusionCINNLib.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": [name for name in %r if name in sys.modules]}))
""" % (HEAVY,)


def _run(code: str, arguments: List[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, env=env,
                          timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("arguments, code", [
    (["--help"], 0),
    (["fuse", "--help"], 0),
    (["train", "--help"], 0),
    (["evaluate", "--help"], 0),
    (["demo", "--help"], 0),
    (["phantom", "--help"], 0),
    (["fuse", "a.nii.gz"], 2),
    (["fuse", "a.nii.gz", "b.nii.gz", "-o", "f.nii.gz", "--pair", "xray-mri"], 2),
    (["nonsense"], 2),
])
def test_help_and_argument_errors_load_nothing_heavy(arguments, code):
    report = _run(RUN_CLI, arguments)
    assert report == {"code": code, "modules": []}


def test_version_loads_nothing_heavy():
    assert _run(RUN_CLI, ["--version"]) == {"code": 0, "modules": []}


def test_phantom_does_not_import_torch(tmp_path):
    report = _run(RUN_CLI, ["phantom", str(tmp_path / "phantom")])
    assert report["code"] == 0 and "torch" not in report["modules"]
    assert "SimpleITK" in report["modules"]  # it did run: the phantom is written with SimpleITK
    assert sorted(p.name for p in (tmp_path / "phantom").iterdir()) == ["ct.nii.gz", "mri.nii.gz", "pet.nii.gz",
                                                                       "phantom.json"]


def test_import_is_cheap_and_torch_loads_on_first_use():
    code = """
import json, sys
import FusionCINNLib
before = [name for name in %r if name in sys.modules]
FusionCINNLib.load_model
print(json.dumps({"before": before, "after": "torch" in sys.modules}))
""" % (HEAVY,)
    assert _run(code, []) == {"before": [], "after": True}
