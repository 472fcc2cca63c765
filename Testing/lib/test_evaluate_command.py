"""``fusioncinn evaluate`` on small picture folders written with SimpleITK."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.cli.main import main
from FusionCINNLib.metrics import METRIC_NAMES, compute_metrics

SHAPE = (64, 72)


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.uint8), isVector=array.ndim == 3), str(path))


def _grey(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


@pytest.fixture
def folders(tmp_path: Path) -> dict:
    """Two triples: one.png (grey) and two.png (colour source a, grey stored as RGB in b)."""
    arrays = {"one.png": (_grey(1), _grey(2), _grey(3)),
              "two.png": (_grey(4), np.stack([_grey(5), _grey(6), _grey(7)], axis=-1), np.stack([_grey(8)] * 3, axis=-1))}
    for name, (fused, a, b) in arrays.items():
        _write(tmp_path / "fused" / name, fused)
        _write(tmp_path / "a" / name, a)
        _write(tmp_path / "b" / name, b)
    return {"root": tmp_path, "arrays": arrays}


def _args(root: Path, *extra: str) -> list:
    return ["evaluate", "--fused", str(root / "fused"), "--a", str(root / "a"), "--b", str(root / "b"), *extra]


def test_json_values_match_metrics_on_grey_and_y(folders, capsys):
    assert main(_args(folders["root"], "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 2 and report["metrics"] == list(METRIC_NAMES)
    fused, a, b = (x.astype(np.float64) for x in folders["arrays"]["one.png"])
    assert report["images"]["one.png"] == pytest.approx(compute_metrics(fused, a, b))
    fused, rgb, grey_rgb = (x.astype(np.float64) for x in folders["arrays"]["two.png"])
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    assert report["images"]["two.png"] == pytest.approx(compute_metrics(fused, y, grey_rgb[..., 0]), rel=1e-5)
    for metric in METRIC_NAMES:
        mean = (report["images"]["one.png"][metric] + report["images"]["two.png"][metric]) / 2
        assert report["mean"][metric] == pytest.approx(mean)


def test_table_has_a_row_per_image_and_the_mean(folders, capsys):
    assert main(_args(folders["root"])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["image", *METRIC_NAMES]
    assert [line.split()[0] for line in lines[1:]] == ["one.png", "two.png", "mean"]
    assert len({len(line) for line in lines}) == 1
    assert all(len(line.split()) == 1 + len(METRIC_NAMES) for line in lines)


def test_missing_folder_is_exit_2(folders, capsys):
    root = folders["root"]
    assert main(["evaluate", "--fused", str(root / "nope"), "--a", str(root / "a"), "--b", str(root / "b")]) == 2
    assert "nope" in capsys.readouterr().err


def test_name_missing_in_source_is_exit_2(folders, capsys):
    (folders["root"] / "b" / "two.png").unlink()
    assert main(_args(folders["root"])) == 2
    err = capsys.readouterr().err
    assert "two.png" in err and "missing" in err and len(err.strip().splitlines()) == 1


def test_unreadable_image_is_exit_2(folders, capsys):
    (folders["root"] / "a" / "one.png").write_bytes(b"not a png at all")
    assert main(_args(folders["root"])) == 2
    assert "one.png" in capsys.readouterr().err


def test_shape_mismatch_is_exit_2(folders, capsys):
    _write(folders["root"] / "a" / "one.png", _grey(9, (64, 70)))
    assert main(_args(folders["root"])) == 2
    err = capsys.readouterr().err
    assert "one.png" in err and "shape" in err


def test_non_8_bit_image_is_exit_2(folders, capsys):
    root = folders["root"]
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros(SHAPE, np.float32)), str(root / "fused" / "three.tif"))
    _write(root / "a" / "three.tif", _grey(10))
    _write(root / "b" / "three.tif", _grey(11))
    assert main(_args(root)) == 2
    err = capsys.readouterr().err
    assert "three.tif" in err and "8-bit" in err


def test_empty_fused_folder_is_exit_2(tmp_path, capsys):
    for name in ("fused", "a", "b"):
        (tmp_path / name).mkdir()
    assert main(_args(tmp_path)) == 2
    assert "no PNG" in capsys.readouterr().err
