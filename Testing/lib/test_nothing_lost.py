"""Nothing lost: inputs never change; an interrupted run (Ctrl-C, SIGTERM), a full disk (a real file size
limit, RLIMIT_FSIZE) or a failure leaves no output and no temporary file; a batch reports a bad pair,
fuses the others and lists both; a training run killed with SIGKILL resumes with --resume."""

from __future__ import annotations

import errno
import json
import os
import pty
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from bad_input_cases import (atlas_folder, ct_array, fuse, grey_picture, mri_array, partials, snapshot, train,
                             truncate, write_picture, write_volume)
from FusionCINNLib.atomic import atomic_output, remove_stale_partials
from FusionCINNLib.cli.main import main
from FusionCINNLib.errors import FusionRuntimeError
from FusionCINNLib.imaging import image_io
from FusionCINNLib.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")


def _volume_pair(folder: Path, shape=(8, 48, 56), other_grid: bool = False):
    ct = write_volume(folder / "ct.nii.gz", ct_array(0, shape))
    spacing = (1.0, 1.0, 2.5) if other_grid else (0.9, 0.9, 3.0)
    mri = write_volume(folder / "mri.nii.gz", mri_array(1, shape), spacing=spacing)
    return ct, mri


def _cli(*args: str) -> list:
    return [sys.executable, "-m", "FusionCINNLib", *args]


def test_inputs_unchanged_after_success_and_failure(tmp_path, tiny_model_dir):
    ct, mri = _volume_pair(tmp_path)
    before = snapshot(tmp_path)
    assert main(fuse(ct, mri, tmp_path / "out.nii.gz", tiny_model_dir, "ct-mri", "--no-register")) == 0
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "mri.nii.gz", "out.json", "out.nii.gz"]
    assert main(fuse(ct, mri, tmp_path / "out2.nii.gz", tiny_model_dir, "pet-mri", "--no-register",
                     "--axis", "coronal", "--batch-size", "0")) == 2
    assert snapshot(tmp_path) == before and not (tmp_path / "out2.nii.gz").exists()


def test_interrupt_while_writing_leaves_nothing(tmp_path, tiny_model_dir, monkeypatch, capsys):
    ct, mri = _volume_pair(tmp_path)

    def write_half_then_interrupt(image, path, compress):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io.sitk, "WriteImage", write_half_then_interrupt)
    assert main(fuse(ct, mri, tmp_path / "out.nii.gz", tiny_model_dir, "ct-mri", "--no-register")) == 130
    assert "interrupted; no partial output was kept" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "mri.nii.gz"]


def _read_until(fd: int, text: str, timeout: float) -> str:
    seen, deadline = "", time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_leaves_no_output(signum, tmp_path, tiny_model_dir):
    ct, mri = _volume_pair(tmp_path, shape=(96, 192, 224), other_grid=True)  # runs for seconds, even on an idle machine
    before = snapshot(tmp_path)
    master, slave = pty.openpty()  # a terminal, so the progress bar shows when fusion has started
    process = subprocess.Popen(_cli(*fuse(ct, mri, tmp_path / "out.nii.gz", tiny_model_dir)), stderr=slave,
                               stdout=subprocess.DEVNULL, env=ENV, cwd=tmp_path)
    os.close(slave)
    try:
        seen = _read_until(master, "fusing ct.nii.gz [", timeout=120)
        assert "fusing ct.nii.gz [" in seen, seen
        process.send_signal(signum)
        code = process.wait(timeout=120)
        seen += _read_until(master, "no partial output", timeout=5)
    finally:
        process.kill()
        os.close(master)
    assert code == 130, seen
    assert "interrupted; no partial output was kept" in seen and "Traceback" not in seen
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "mri.nii.gz"]


def _limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha"])
def test_full_disk_is_a_clear_error_and_leaves_no_file(suffix, tmp_path, tiny_model_dir):
    ct, mri = _volume_pair(tmp_path)
    before = snapshot(tmp_path)
    out = tmp_path / f"out{suffix}"
    done = subprocess.run(_cli(*fuse(ct, mri, out, tiny_model_dir, "ct-mri", "--no-register")), capture_output=True,
                          text=True, env=ENV, cwd=tmp_path, timeout=300, preexec_fn=_limit_file_size(20000))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"out{suffix}: disk full while writing (file size limit of 20000 bytes reached)" in lines[0]
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "mri.nii.gz"]


def test_no_space_errno_becomes_disk_full(tmp_path):
    target = tmp_path / "result.csv"
    with pytest.raises(FusionRuntimeError, match=r"result\.csv: disk full while writing \(No space left on device\)"):
        with atomic_output(target) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []


def test_stale_partials_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".last.pt.{dead.stdout.strip()}.abcd1234.partial.pt"
    live = tmp_path / f".last.pt.{os.getpid()}.efgh5678.partial.pt"
    for path in (stale, live):
        path.write_bytes(b"x")
    assert remove_stale_partials(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == [live]


def test_batch_skips_bad_pair_fuses_others_and_lists_both(tmp_path, tiny_model_dir, capsys):
    for name, seed in (("one.png", 1), ("two.png", 3), ("bad.png", 5)):
        write_picture(tmp_path / "a" / name, grey_picture(seed))
        write_picture(tmp_path / "b" / name, grey_picture(seed + 1))
    truncate(tmp_path / "a" / "bad.png")
    before = snapshot(tmp_path)
    code = main(fuse(tmp_path / "a", tmp_path / "b", tmp_path / "out", tiny_model_dir))
    captured = capsys.readouterr()
    assert code == 2
    assert "fused 2 of 3 pairs" in captured.out and "one.png, two.png" in captured.out
    assert "skipped bad.png:" in captured.err and "corrupt or truncated PNG" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.png", "two.png"]
    assert snapshot(tmp_path) == before


def test_batch_stops_on_full_disk_keeping_finished_outputs(tmp_path, tiny_model_dir, capsys, disk_full_when_writing):
    for name, seed in (("one.png", 1), ("two.png", 3)):
        write_picture(tmp_path / "a" / name, grey_picture(seed))
        write_picture(tmp_path / "b" / name, grey_picture(seed + 1))
    disk_full_when_writing("two.png")
    assert main(fuse(tmp_path / "a", tmp_path / "b", tmp_path / "out", tiny_model_dir)) == 1
    captured = capsys.readouterr()
    assert "stopped after fusing 1 of 2 pairs" in captured.out
    assert "two.png: disk full while writing" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.png"]


def test_training_killed_with_sigkill_resumes_from_last_checkpoint(tmp_path):
    data = atlas_folder(tmp_path, pictures=6)
    args = train(data, tmp_path, "--epochs", "6", "--val-fraction", "0")
    run_dir = tmp_path / "out_model.training"
    process = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 180
        while load_checkpoint(run_dir) is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # into the next epoch (about 0.3 s each)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    killed_at = load_checkpoint(run_dir)[0]["epoch"]
    assert 1 <= killed_at < 6, "the run finished before it could be killed"
    assert not (tmp_path / "out_model").exists()
    done = subprocess.run(_cli(*args, "--resume"), capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"after epoch {killed_at}" in done.stdout
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in history[1:]] == list(range(1, 7))
    config = json.loads((tmp_path / "out_model" / "config.json").read_text())
    assert config["provenance"]["epochs_run"] == 6
    assert not partials(tmp_path)


def test_written_nifti_gz_holds_the_exact_image_and_nothing_else(tmp_path):
    voxels = np.random.default_rng(3).normal(size=(7, 20, 30)).astype(np.float32)
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing((0.5, 0.7, 2.0))
    image.SetOrigin((-10.0, 4.5, 30.25))
    angle = np.deg2rad(20)
    image.SetDirection((np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0))
    out = image_io.write_image(image, tmp_path / "fused.nii.gz")
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    back = sitk.ReadImage(str(out))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), voxels)
    for get in ("GetSpacing", "GetOrigin", "GetDirection"):  # NIfTI stores float32 geometry
        np.testing.assert_allclose(getattr(back, get)(), getattr(image, get)(), atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["fused.nii.gz"]
