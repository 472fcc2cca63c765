"""Folder batches split across machines: ``--num-parts N --part-id I`` covers every case exactly once and the
parts together write exactly what one run writes; ``--skip-existing`` continues an interrupted batch;
``--report`` holds one record per case; bad part numbers are one line and exit 2.

SimpleITK runs on one thread here: with several, the registration's metric sums come in a varying order and
the transform differs between any two runs in the 9th digit (then so do a few fused voxels), with or without
parts. On one thread every run is bit-identical, so any difference would be the split's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Dict, List

import pytest
import SimpleITK as sitk

from bad_input_cases import ct_array, fuse, grey_picture, mri_array, partials, write_picture, write_volume
from FusionCINNLib.cli.batch_split import case_part, part_of
from FusionCINNLib.cli.main import main

VOLUMES = ("case-01.nii.gz", "case-02.nii.gz", "case-03.nii.gz")
PICTURES = ("pic-1.png", "pic-2.png", "pic-3.png")
ONLY_IN_A = "only-a.png"
FUSED = sorted(VOLUMES + PICTURES)
SIDECARS = tuple(name.replace(".nii.gz", ".json") for name in VOLUMES)
WRITTEN = sorted(FUSED + list(SIDECARS))


@pytest.fixture(scope="module", autouse=True)
def one_itk_thread():
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    yield
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """A/ and B/ with three volume pairs (case-01 and case-02 on other grids, so they are registered), three
    picture pairs and one picture only in A."""
    root = tmp_path_factory.mktemp("batch")
    for seed, name in enumerate(VOLUMES):
        write_volume(root / "a" / name, ct_array(seed))
        spacing = (1.0, 1.0, 2.5) if name != "case-03.nii.gz" else (0.9, 0.9, 3.0)
        write_volume(root / "b" / name, mri_array(seed + 10), spacing=spacing)
    for seed, name in enumerate(PICTURES + (ONLY_IN_A,)):
        write_picture(root / "a" / name, grey_picture(seed))
        if name != ONLY_IN_A:
            write_picture(root / "b" / name, grey_picture(seed + 20))
    return root


def _run(batch: Path, out: Path, model: Path, *extra: str) -> int:
    return main(fuse(batch / "a", batch / "b", out, model, "ct-mri", *extra))


def _content(path: Path) -> bytes:
    """A file's bytes, uncompressed for .gz (whose gzip header records the time and the temporary file's name of
    each write); a sidecar JSON with its output's path reduced to the file name (the runs write to two folders)."""
    if path.name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if path.suffix == ".json":
        record = json.loads(path.read_text())
        record["output"]["file"] = Path(record["output"]["file"]).name
        return json.dumps(record, sort_keys=True).encode()
    return path.read_bytes()


def _files(folder: Path) -> Dict[str, bytes]:
    """Name -> content (:func:`_content`) of every file."""
    return {p.name: _content(p) for p in sorted(folder.iterdir())}


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_case_parts_are_fixed_by_name_alone():
    """SHA-256 of the name: the same on every machine and Python (this list must never change)."""
    names = ["case-01.nii.gz", "case-02.nii.gz", "case-03.nii.gz", "pic-1.png", "only-a.png"]
    assert [case_part(name, 2) for name in names] == [1, 0, 0, 1, 0]
    assert [case_part(name, 3) for name in names] == [2, 2, 0, 0, 0]
    assert part_of(names, 1, 0) == sorted(names)
    for parts in (2, 3, 7):
        together = [name for part in range(parts) for name in part_of(names, parts, part)]
        assert sorted(together) == sorted(names)


@pytest.fixture(scope="module")
def one_run(batch, tiny_model_dir, tmp_path_factory):
    """The whole batch on one machine: (output folder, report, exit code)."""
    out = tmp_path_factory.mktemp("one") / "out"
    report = out.parent / "report.json"
    code = _run(batch, out, tiny_model_dir, "--report", str(report))
    return out, _report(report), code


@pytest.mark.parametrize("parts", [2, 3])
def test_parts_together_write_exactly_the_one_machine_result(batch, tiny_model_dir, one_run, tmp_path, parts):
    one_out, one_report, one_code = one_run
    assert one_code == 2  # only-a.png has no partner
    assert sorted(_files(one_out)) == WRITTEN
    out = tmp_path / "out"
    records: List[dict] = []
    for part in range(parts):
        report = tmp_path / f"report-{part}.json"
        code = _run(batch, out, tiny_model_dir, "--num-parts", str(parts), "--part-id", str(part),
                    "--report", str(report))
        document = _report(report)
        assert document["part"] == {"id": part, "of": parts} and document["complete"] is True
        assert document["cases"], f"part {part} of {parts} is empty: the test names no longer spread"
        assert code == (2 if any(c["status"] == "missing" for c in document["cases"]) else 0)
        records += document["cases"]
    assert _files(out) == _files(one_out)  # the same files, the same bytes
    for name in VOLUMES:
        mine, theirs = sitk.ReadImage(str(out / name)), sitk.ReadImage(str(one_out / name))
        assert mine.GetSize() == theirs.GetSize() and mine.GetOrigin() == theirs.GetOrigin()
        assert sitk.GetArrayViewFromImage(mine).tobytes() == sitk.GetArrayViewFromImage(theirs).tobytes()
    key = lambda case: case["name"]  # noqa: E731
    assert [c["name"] for c in sorted(records, key=key)] == sorted(FUSED + [ONLY_IN_A])
    assert ([(c["status"], c["registration_metric"]) for c in sorted(records, key=key)]
            == [(c["status"], c["registration_metric"]) for c in sorted(one_report["cases"], key=key)])


def test_report_has_one_record_per_case(one_run, batch):
    out, report, _ = one_run
    assert report["format"] == "fusioncinn-batch-report" and report["complete"] is True
    assert report["counts"] == {"fused": 6, "existing": 0, "failed": 0, "missing": 1}
    assert report["device"] == "cpu" and report["part"] == {"id": 0, "of": 1}
    cases = {case["name"]: case for case in report["cases"]}
    registered = cases["case-01.nii.gz"]
    assert registered["status"] == "fused" and registered["message"] == ""
    assert registered["a"] == str(batch / "a" / "case-01.nii.gz")
    assert registered["output"] == str(out / "case-01.nii.gz")
    assert {"read", "check", "register", "resample", "fuse", "write", "total"} <= set(registered["seconds"])
    assert registered["registration_metric"] < 0 and registered["device"] == "cpu"
    assert cases["case-03.nii.gz"]["registration_metric"] is None  # same grid: no registration
    assert "register" not in cases["case-03.nii.gz"]["seconds"]
    missing = cases[ONLY_IN_A]
    assert missing["status"] == "missing" and missing["message"] == f"missing in {batch / 'b'}"


def test_an_interrupted_batch_continues_with_skip_existing(batch, tiny_model_dir, one_run, tmp_path, monkeypatch,
                                                            capsys, disk_full_when_writing):
    out = tmp_path / "out"
    disk_full_when_writing("pic-2.png")
    assert _run(batch, out, tiny_model_dir, "--report", str(tmp_path / "first.json")) == 1
    first = _report(tmp_path / "first.json")
    failed = [case for case in first["cases"] if case["status"] == "failed"]
    assert first["complete"] is False and [case["name"] for case in failed] == ["pic-2.png"]
    assert "disk full" in failed[0]["message"]
    fused_first = sorted(case["name"] for case in first["cases"] if case["status"] == "fused")
    done_first = sorted(p.name for p in out.iterdir())
    done_first_cases = [name for name in done_first if not name.endswith(".json")]
    assert done_first_cases == fused_first, "every output written is reported as fused, and only those"
    assert done_first[:7] == ["case-01.json", "case-01.nii.gz", "case-02.json", "case-02.nii.gz", "case-03.json",
                              "case-03.nii.gz", "pic-1.png"]
    assert done_first[7:] in ([], ["pic-3.png"]), "a picture running beside the failed one may finish"
    (out / ".pic-3.png.999999.x1.partial.png").write_bytes(b"half a picture")  # a killed writer's temp file
    monkeypatch.undo()  # the disk has room again
    mtimes = {name: (out / name).stat().st_mtime_ns for name in done_first}
    capsys.readouterr()
    assert _run(batch, out, tiny_model_dir, "--skip-existing", "--report", str(tmp_path / "second.json")) == 2
    assert f"kept {len(done_first_cases)} existing outputs (--skip-existing)" in capsys.readouterr().out
    second = {c["name"]: c["status"] for c in _report(tmp_path / "second.json")["cases"]}
    assert second == {"pic-2.png": "fused", "pic-3.png": "fused", ONLY_IN_A: "missing",
                      **{name: "existing" for name in done_first_cases}}
    assert {name: (out / name).stat().st_mtime_ns for name in done_first} == mtimes  # not rewritten
    (out / ".pic-3.png.999999.x1.partial.png").unlink()
    assert _files(out) == _files(one_run[0]) and not partials(out)


@pytest.mark.parametrize("extra, message", [
    (["--num-parts", "0"], "--num-parts must be >= 1, got 0"),
    (["--num-parts", "2", "--part-id", "2"], "--part-id must be 0 to 1 for --num-parts 2, got 2"),
    (["--part-id", "-1"], "--part-id must be 0 to 0 for --num-parts 1, got -1"),
    (["--part-id", "1"], "--part-id must be 0 to 0 for --num-parts 1, got 1"),
])
def test_bad_part_numbers_are_one_line_exit_2(batch, tiny_model_dir, tmp_path, capsys, extra, message):
    assert _run(batch, tmp_path / "out", tiny_model_dir, *extra) == 2
    err = capsys.readouterr().err
    assert err == f"fusioncinn fuse: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_batch_options_on_a_single_pair_are_refused(batch, tiny_model_dir, tmp_path, capsys):
    code = main(fuse(batch / "a" / "pic-1.png", batch / "b" / "pic-1.png", tmp_path / "f.png", tiny_model_dir,
                     "ct-mri", "--report", str(tmp_path / "r.json")))
    assert code == 2
    assert capsys.readouterr().err == ("fusioncinn fuse: error: --report: only for a folder batch (A and B folders "
                                       "of pairs); here A and B are one pair\n")
    assert sorted(tmp_path.iterdir()) == []


def test_a_report_inside_an_input_folder_is_refused(batch, tiny_model_dir, tmp_path, capsys):
    assert _run(batch, tmp_path / "out", tiny_model_dir, "--report", str(batch / "a" / "r.json")) == 2
    assert "--report would be written inside the input folder" in capsys.readouterr().err
    assert not (batch / "a" / "r.json").exists() and not (tmp_path / "out").exists()
