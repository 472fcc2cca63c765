"""Models in every install: the package as setup.py builds it (the files a wheel and a non-editable
``pip install .`` get) carries the shipped models as package data and finds them with importlib.resources;
a checkout finds Resources/Models; $FUSIONCINN_MODELS overrides both; ``fusioncinn --version`` lists them.

The whole wheel (build, install into a fresh virtual environment outside the checkout, fuse a phantom pair)
is checked by .ci/run; here setup.py's build step alone, which is what decides the wheel's files."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from FusionCINNLib.model_catalog import shipped_models_dir

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "Resources" / "Models"
MODEL_NAMES = sorted(p.parent.name for p in SHIPPED.glob("*/config.json"))

FIND = """
import json
from FusionCINNLib.model_catalog import shipped_models_dir, default_model_path
print(json.dumps({"dir": str(shipped_models_dir()), "ct-mri": str(default_model_path("ct-mri")),
                  "pet-mri": str(default_model_path("pet-mri"))}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The package tree that setup.py's build step makes (the wheel's contents), outside the checkout."""
    out = tmp_path_factory.mktemp("built")
    egg_base = out / "egg"
    egg_base.mkdir()
    done = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(egg_base),
                           "build_py", "--build-lib", str(out / "lib")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out / "lib"


def _python(code_or_args, site: Path, cwd: Path, **env_extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FUSIONCINN_MODELS"}
    env.update(PYTHONPATH=str(site), **env_extra)
    arguments = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    return subprocess.run([sys.executable, *arguments], cwd=cwd, env=env, capture_output=True, text=True)


def test_shipped_models_are_in_the_repository():
    assert MODEL_NAMES == ["fusioncinn-all", "fusioncinn-ct-mri"]


def test_the_built_package_carries_every_shipped_model_file_unchanged(built):
    packaged = built / "FusionCINNLib" / "models"
    for name in MODEL_NAMES:
        files = sorted(p.name for p in (SHIPPED / name).iterdir())
        assert sorted(p.name for p in (packaged / name).iterdir()) == files
        for file in files:
            assert filecmp.cmp(SHIPPED / name / file, packaged / name / file, shallow=False)


def test_the_built_package_finds_its_own_models(built, tmp_path):
    done = _python(FIND, built, tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    packaged = built / "FusionCINNLib" / "models"
    assert found == {"dir": str(packaged), "ct-mri": str(packaged / "fusioncinn-ct-mri"),
                     "pet-mri": str(packaged / "fusioncinn-all")}


def test_the_environment_variable_overrides_the_packaged_models(built, tmp_path, tiny_model_dir):
    done = _python(FIND, built, tmp_path, FUSIONCINN_MODELS=str(tiny_model_dir.parent))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["dir"] == str(tiny_model_dir.parent) and found["ct-mri"] == str(tiny_model_dir)


def test_a_checkout_finds_resources_models(monkeypatch):
    monkeypatch.delenv("FUSIONCINN_MODELS", raising=False)
    assert shipped_models_dir() == SHIPPED


def test_version_lists_each_shipped_model_with_its_checksum(built, tmp_path):
    done = _python(["-m", "FusionCINNLib", "--version"], built, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("fusioncinn 0.")
    assert lines[1] == f"shipped models in {built / 'FusionCINNLib' / 'models'}:"
    for name in MODEL_NAMES:
        config = json.loads((SHIPPED / name / "config.json").read_text())
        pairs = ", ".join(config["pair_types"])
        assert f"  {name}  pairs {pairs}  sha256 {config['weights']['sha256']}  (weights match)" in lines


def test_version_flags_damaged_weights_and_exits_1(tmp_path, tiny_model_dir):
    models = tmp_path / "models"
    shutil.copytree(tiny_model_dir, models / "tiny")
    with open(models / "tiny" / "weights.pt", "ab") as handle:
        handle.write(b"x")
    done = _python(["-m", "FusionCINNLib", "--version"], REPO, tmp_path, FUSIONCINN_MODELS=str(models))
    assert done.returncode == 1
    assert "tiny  pairs ct-mri, pet-mri, spect-mri" in done.stdout and "damaged:" in done.stdout
    assert "checksum does not match config.json" in done.stdout
