"""Folder batches fuse picture pairs side by side (one single-threaded worker per torch thread on the CPU):
the same files and the same report, in name order, as one worker; a stop signal while several run is deferred
until every running pair has reached its end."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from bad_input_cases import ct_array, fuse, grey_picture, mri_array, write_picture, write_volume
from FusionCINNLib.cli import fuse_batch, interrupts
from FusionCINNLib.cli.main import main

PICTURES = tuple(f"pic-{i}.png" for i in range(1, 7))


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Six picture pairs with a volume pair among them (fused alone, in name order) and one bad pair."""
    root = tmp_path_factory.mktemp("batch")
    for seed, name in enumerate(PICTURES):
        write_picture(root / "a" / name, grey_picture(seed))
        write_picture(root / "b" / name, grey_picture(seed + 20))
    write_volume(root / "a" / "pic-3b.nii.gz", ct_array(1))
    write_volume(root / "b" / "pic-3b.nii.gz", mri_array(11))
    write_picture(root / "a" / "pic-5b.png", grey_picture(7))
    write_picture(root / "b" / "pic-5b.png", grey_picture(7))  # the same picture twice: refused, the batch goes on
    return root


def _run(batch: Path, out: Path, model: Path, workers: int, monkeypatch) -> dict:
    monkeypatch.setattr(fuse_batch, "picture_workers", lambda device: workers)
    out.parent.mkdir()
    code = main(fuse(batch / "a", batch / "b", out, model, "ct-mri", "--report", str(out.parent / "report.json")))
    assert code == 2  # the bad pair
    return json.loads((out.parent / "report.json").read_text())


def _without_times(report: dict) -> list:
    return [{k: v for k, v in case.items() if k not in ("seconds", "a", "b", "output")} for case in report["cases"]]


def _count_running(monkeypatch) -> list:
    """Wrap the batch's per-pair fusion so that it counts pairs running at once; returns [most so far]."""
    running, most = [0], [0]
    lock = threading.Lock()
    fuse_pair = fuse_batch._fuse_pair

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.05)
            return fuse_pair(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(fuse_batch, "_fuse_pair", counted)
    return most


def test_pictures_side_by_side_write_and_report_what_one_worker_does(batch, tiny_model_dir, tmp_path, monkeypatch):
    most = _count_running(monkeypatch)
    one = _run(batch, tmp_path / "one" / "out", tiny_model_dir, 1, monkeypatch)
    assert most[0] == 1
    most[0] = 0
    three = _run(batch, tmp_path / "three" / "out", tiny_model_dir, 3, monkeypatch)
    assert most[0] >= 2, "picture pairs must run side by side"
    assert _without_times(three) == _without_times(one)
    assert [case["name"] for case in three["cases"]] == sorted(PICTURES + ("pic-3b.nii.gz", "pic-5b.png"))
    assert [case["status"] for case in three["cases"]].count("failed") == 1
    for path in sorted((tmp_path / "one" / "out").iterdir()):
        if path.suffix == ".png":
            assert (tmp_path / "three" / "out" / path.name).read_bytes() == path.read_bytes(), path.name
    assert sorted(p.name for p in (tmp_path / "three" / "out").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one" / "out").iterdir())


def test_pictures_too_large_to_fuse_side_by_side_in_free_memory_are_fused_one_at_a_time(batch, tiny_model_dir,
                                                                                        tmp_path, monkeypatch):
    import FusionCINNLib.memory as memory

    most = _count_running(monkeypatch)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 2 * 1024 ** 2)  # room for one 64x64 pair
    report = _run(batch, tmp_path / "low" / "out", tiny_model_dir, 3, monkeypatch)
    assert most[0] == 1
    assert all(case["status"] == "fused" for case in report["cases"] if case["name"] in PICTURES)


def test_a_signal_waits_for_every_running_pair_not_only_the_first_to_end():
    inside, leave = threading.Event(), threading.Event()
    caught = []

    def worker():
        try:
            with interrupts.deferred():
                inside.set()
                leave.wait(5)
        except KeyboardInterrupt:
            caught.append("worker")

    with interrupts.installed():
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred() as cancelled:
                thread = threading.Thread(target=worker)
                thread.start()
                assert inside.wait(5)
                leave.set()
                thread.join(5)  # the worker's block ended first, with no signal yet
                try:
                    interrupts._on_signal(signal.SIGINT, None)
                except KeyboardInterrupt:
                    pytest.fail("the signal was raised at once although a deferred block still runs")
                assert cancelled()
    assert caught == []
