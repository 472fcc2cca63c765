"""Retraining in a child process (``python -m FusionCINNLib train``), model listing without torch,
and the dependency installer's pip arguments. No MRML needed."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "FusionCINN"))

from FusionCINNLogic import FusionCINNLogic, dependencies, listModels  # noqa: E402
from FusionCINNLogic.training import TrainingProcess, parseProgress, trainCommand  # noqa: E402

TINY_ARCHITECTURE = json.dumps({"hidden": [4, 4, 8, 8, 8], "blocks": [1, 1, 1, 1, 1]})
FAST = ["--architecture", TINY_ARCHITECTURE, "--patch", "32", "--batch-size", "2", "--val-every", "1"]


def _write_pairs(folder: Path, cases=(1, 2), slices=2, size=48) -> Path:
    """The CLI's training layout: folder/CT-MRI/a/NAME.png + folder/CT-MRI/b/NAME.png (case = NAME // 1000)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    for side in ("a", "b"):
        (folder / "CT-MRI" / side).mkdir(parents=True, exist_ok=True)
    for case in cases:
        for index in range(slices):
            disc = ((x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2).astype(float)
            a = np.clip(200 * disc * (x % 7 < 3) + rng.normal(0, 5, disc.shape), 0, 255).astype(np.uint8)
            b = np.clip(150 * disc + 60 * np.sin(y / 3.0) * disc + rng.normal(0, 5, disc.shape), 0, 255).astype(np.uint8)
            name = f"{case * 1000 + index}.png"
            sitk.WriteImage(sitk.GetImageFromArray(a), str(folder / "CT-MRI" / "a" / name))
            sitk.WriteImage(sitk.GetImageFromArray(b), str(folder / "CT-MRI" / "b" / name))
    return folder


def test_train_command_is_the_cli_train_subcommand(tmp_path):
    command = trainCommand(tmp_path / "data", tmp_path / "out", "pet-mri", 7, "cpu", python="PythonSlicer")
    assert command == ["PythonSlicer", "-m", "FusionCINNLib", "train", "--data", str(tmp_path / "data"),
                       "--pair", "pet-mri", "--out", str(tmp_path / "out"), "--epochs", "7", "--device", "cpu"]
    with pytest.raises(ValueError):
        trainCommand(tmp_path, tmp_path / "out", "ct-pet", 3)
    assert parseProgress("training:  42.5% 12s eta 16s epoch 2/4 loss 0.1") == pytest.approx(0.425)
    assert parseProgress("resuming from x") is None


def test_training_names_are_checked(tmp_path):
    logic = FusionCINNLogic(userModelsDir=tmp_path / "models")
    (tmp_path / "models" / "taken").mkdir(parents=True)
    with pytest.raises(ValueError, match="not a usable model name"):
        logic.trainingCommand(tmp_path, "../escape")
    with pytest.raises(ValueError, match="exists"):
        logic.trainingCommand(tmp_path, "taken")
    with pytest.raises(ValueError, match="not found"):
        logic.trainingCommand(tmp_path / "nowhere", "new")


def test_fine_tuning_starts_from_the_shipped_model_covering_the_pairs(tmp_path, monkeypatch, tiny_model):
    from FusionCINNLib.network.model_files import save_model

    shipped = tmp_path / "shipped"
    save_model(tiny_model, shipped / "fusioncinn-all")
    monkeypatch.setenv("FUSIONCINN_MODELS", str(shipped))
    logic = FusionCINNLogic(userModelsDir=tmp_path / "models")
    command, _ = logic.trainingCommand(tmp_path, "tuned", "all", 3, "cpu", fineTune=True)
    assert command[command.index("--init") + 1] == str(shipped / "fusioncinn-all")
    assert "--init" not in logic.trainingCommand(tmp_path, "scratch", "all", 3, "cpu")[0]
    monkeypatch.setenv("FUSIONCINN_MODELS", str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no shipped model covers pet-mri"):
        logic.trainingCommand(tmp_path, "tuned", "pet-mri", 3, "cpu", fineTune=True)


def test_training_runs_in_a_child_process_and_the_model_joins_the_list(tmp_path):
    data = _write_pairs(tmp_path / "pairs")
    logic = FusionCINNLogic(userModelsDir=tmp_path / "models")
    process = logic.startTraining(data, "mine", "ct-mri", epochs=1, device="cpu", extraArgs=FAST)
    assert process.running or process.finished
    code = process.wait(timeout=240)
    log = "\n".join(process.log)
    assert code == 0, log
    assert process.succeeded and process.fraction == pytest.approx(1.0), log
    assert "model written to" in log
    entries = {e.name: e for e in logic.availableModels()}
    assert "mine" in entries and not entries["mine"].shipped
    assert entries["mine"].pairTypes == ["ct-mri"]
    assert "retrained" in entries["mine"].label and "1 epochs" in entries["mine"].label
    model = logic.loadModel(entries["mine"].path, "ct-mri")  # a real, loadable model
    assert model.pair_types == ["ct-mri"]


def _alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, ended but not yet reaped by its new parent, is not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="the fake launcher test uses POSIX process ids and signals")
def test_training_cancel_stops_the_trainer_behind_a_launcher_and_keeps_no_model(tmp_path):
    """Issue 15 item 1: inside Slicer the command is ``PythonSlicer -m FusionCINNLib train``, and
    PythonSlicer (CTKAppLauncher) starts python-real as its child without passing signals on. Cancel
    must stop that grandchild too: the real trainer ends cleanly (no model), the output pipe closes."""
    data = _write_pairs(tmp_path / "pairs", cases=(1, 2, 3), slices=4)
    logic = FusionCINNLogic(userModelsDir=tmp_path / "models")
    command, out = logic.trainingCommand(data, "never", "ct-mri", 100000, "cpu", FAST)
    pid_file = tmp_path / "trainer.pid"
    launcher = [sys.executable, str(Path(__file__).with_name("fake_launcher.py"))]
    process = TrainingProcess(launcher + command, cwd=tmp_path, modelFolder=out,
                              env={"FAKE_LAUNCHER_PID_FILE": str(pid_file)}).start()
    run_dir = Path(str(out) + ".training")
    deadline = time.monotonic() + 120
    while not run_dir.exists() and process.running and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the trainer runs (past the imports), so the CLI handles SIGTERM
    assert process.running and pid_file.exists(), "\n".join(process.readLines())
    trainer = int(pid_file.read_text())
    assert _alive(trainer) and trainer != process.process.pid
    process.cancel(timeout=30)
    deadline = time.monotonic() + 30
    while not process.finished and time.monotonic() < deadline:
        time.sleep(0.1)
    survived = _alive(trainer)
    if survived:
        os.kill(trainer, 9)  # leave no orphan behind when the test fails
    assert not survived, "the trainer behind the launcher survived the cancel"
    assert process.finished, "the output pipe stayed open: the panel would never see the end"
    process.readLines()
    log = "\n".join(process.log)
    assert process.cancelRequested and not process.succeeded
    assert "no partial output was kept" in log, log
    assert not out.exists()


def test_model_listing_without_torch_matches_the_library(tmp_path, monkeypatch, tiny_model):
    from FusionCINNLib.network.model_files import available_models, save_model

    shipped = tmp_path / "shipped"
    save_model(tiny_model, shipped / "b-model")
    save_model(tiny_model, shipped / "a-model")
    (shipped / "not-a-model").mkdir()
    (shipped / "broken").mkdir()
    (shipped / "broken" / "config.json").write_text("{not json")
    user = tmp_path / "user"
    save_model(tiny_model, user / "retrained")
    monkeypatch.setenv("FUSIONCINN_MODELS", str(shipped))
    entries = listModels([user])
    library = [p for p in available_models([user]) if p.name != "broken"]
    assert [e.path for e in entries] == library
    assert [e.shipped for e in entries] == [True, True, False]
    assert entries[0].label == "a-model (ct-mri, pet-mri, spect-mri) - shipped"
    assert entries[0].covers("pet-mri")


def test_dependencies_are_pip_installed_with_numpy_simpleitk_and_torch_pinned(tmp_path):
    assert dependencies.missingPackages() == []  # the test environment has everything
    assert dependencies.pipPackages(["torch"]) == []  # torch comes from the PyTorch extension
    constraints = tmp_path / "constraints.txt"
    arguments = dependencies.pipInstallArguments(["torch", "FrEIA", "PyWavelets"], constraints)
    assert arguments == ["FrEIA>=0.2", "PyWavelets>=1.4", "--constraint", str(constraints)]
    pins = constraints.read_text().split()
    assert {p.split("==")[0].lower() for p in pins} == {"numpy", "simpleitk", "torch"}
    assert not any(a.lower().startswith(("numpy", "simpleitk")) for a in arguments)
    assert dependencies.pipInstallArguments([], tmp_path / "unused.txt") == []
