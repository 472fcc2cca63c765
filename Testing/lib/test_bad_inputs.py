"""Every bad input in ``bad_input_cases.CASES`` through ``fusioncinn`` (in-process, and a few through a
real ``python -m FusionCINNLib`` subprocess): the exit code, one clear line naming the file, no
traceback, no output or temporary file left, and the inputs unchanged to the byte and the mtime."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from bad_input_cases import (ACCEPTED, CASES, Case, ct_array, mri_array, outputs, partials, snapshot, write_png16,
                             write_volume)
from FusionCINNLib import memory
from FusionCINNLib.cli.main import main
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.imaging.image_io import picture_from_image, read_image
from FusionCINNLib.imaging.modality_check import check_declared_modality
from FusionCINNLib.phantom import make_head_phantom

REPO = Path(__file__).resolve().parents[2]


def _error_lines(err: str) -> list:
    return [line for line in err.splitlines() if re.match(r"fusioncinn \w+: (error|internal error)", line)
            or line.startswith("  skipped")]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, tmp_path, tiny_model_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = case.build(tmp_path, tiny_model_dir)
    before = snapshot(tmp_path)
    if case.free_memory_mb is not None:
        monkeypatch.setattr(memory, "_meminfo_available", lambda: case.free_memory_mb * 2 ** 20)
        monkeypatch.setattr(memory, "_cgroup_room", lambda: None)
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = _error_lines(err)
    assert code == case.code, err
    assert len(lines) == 1 and re.search(case.expect, lines[0]), err
    assert snapshot(tmp_path) == before
    assert not partials(tmp_path)
    if case.label.startswith("mismatched pair folders"):
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.png", "two.png"]
    else:
        assert not outputs(tmp_path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("label", list(ACCEPTED))
def test_unusual_but_valid_input_is_fused(label, tmp_path, tiny_model_dir, capsys):
    argv = ACCEPTED[label](tmp_path, tiny_model_dir)
    before = snapshot(tmp_path)
    assert main(argv) == 0, capsys.readouterr().err
    assert Path(argv[argv.index("-o") + 1]).is_file()
    assert snapshot(tmp_path) == before and not partials(tmp_path)


def _run_cli(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "FusionCINNLib", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


SUBPROCESS_CASES = ("truncated NIfTI (.nii.gz)", "wrong --pair: two MRIs as ct-mri",
                    "model: pickle that would run code")


@pytest.mark.parametrize("label", SUBPROCESS_CASES)
def test_real_process_prints_one_line_and_no_traceback(label, tmp_path, tiny_model_dir):
    case = next(c for c in CASES if c.label == label)
    argv = case.build(tmp_path, tiny_model_dir)
    done = _run_cli(argv, tmp_path)
    assert done.returncode == case.code
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(case.expect, lines[0]), done.stderr
    assert not outputs(tmp_path) and not partials(tmp_path) and not (tmp_path / "PWNED").exists()


def test_debug_shows_the_traceback(tmp_path, tiny_model_dir):
    case = next(c for c in CASES if c.label == "truncated NIfTI (.nii.gz)")
    done = _run_cli(["--debug", *case.build(tmp_path, tiny_model_dir)], tmp_path)
    assert done.returncode == 2 and "Traceback" in done.stderr


def test_unexpected_exception_is_one_line_exit_1(tmp_path, tiny_model_dir, capsys, monkeypatch):
    from FusionCINNLib.fusion import pipeline

    def broken(*args, **kwargs):
        raise ValueError("something nobody foresaw")

    monkeypatch.setattr(pipeline, "fuse_images", broken)
    argv = ACCEPTED["16-bit PNG (grey)"](tmp_path, tiny_model_dir)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == ("fusioncinn fuse: internal error: ValueError: something nobody foresaw "
                           "(run with --debug for the traceback, and please report it)")


def test_argparse_errors_return_2(capsys):
    assert main(["fuse", "a.png"]) == 2
    assert "required" in capsys.readouterr().err


SMALL_PHANTOM = dict(ct_size=(48, 48, 20), ct_spacing=(4.8, 4.8, 8.0), mri_size=(36, 42, 33),
                     mri_spacing=(5.33, 5.33, 5.33), pet_size=(30, 30, 18), pet_spacing=(8.0, 8.0, 10.0))


def test_modality_rules_never_refuse_real_looking_scans():
    phantom = make_head_phantom(0, **SMALL_PHANTOM)
    for modality in ("ct", "mri", "pet"):
        check_declared_modality(sitk.GetArrayViewFromImage(phantom.image(modality)), modality, modality)
    ct = ct_array(0)
    masked_soft_tissue = np.where(ct > 0, np.clip(ct, 0, 90), 0)  # skull-stripped CT, background 0
    masked_with_bone = np.where(ct > -500, ct, 0)  # head mask applied, skull kept, background 0
    fat_no_air = np.where(ct < -500, -100.0, ct)
    for values in (ct, masked_soft_tissue, masked_with_bone, fat_no_air):
        check_declared_modality(values, "ct", "ct")
    pet = mri_array(2) * 20
    pet[0, 0, :5] = -300  # a few negative voxels, as filtered back-projection gives
    for values, modality in ((mri_array(1), "mri"), (pet, "pet"), (pet, "spect")):
        check_declared_modality(values, modality, modality)


def test_image_too_large_to_load_is_refused_before_reading(tmp_path, monkeypatch):
    path = write_volume(tmp_path / "ct.nrrd", ct_array(0))
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 10_000)
    monkeypatch.setattr(memory, "_cgroup_room", lambda: None)
    with pytest.raises(FusionInputError, match=r"ct\.nrrd: needs about 0\.00 GB of memory, 0\.00 GB free; it is "
                                               r"too large to load on this machine"):
        read_image(path)


def test_16_bit_ct_picture_is_scaled_by_its_range_not_the_hu_window(tmp_path):
    picture = picture_from_image(read_image(write_png16(tmp_path / "ct16.png", 1)), "ct16.png", "ct")
    assert picture.window.high > 1500  # values up to 51000: the fixed HU window would saturate them
    assert 0.2 < float(picture.grey[picture.grey > 0].mean()) < 0.8
