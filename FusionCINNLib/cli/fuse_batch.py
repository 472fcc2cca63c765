"""``fusioncinn fuse A_DIR B_DIR -o OUT_DIR``: fuse every pair of names found in both folders.

A bad pair is reported and skipped; a failure while running (disk full) or an interrupt stops the batch,
keeping the finished outputs (each written atomically). With ``--num-parts N --part-id I`` only the cases of
part I are fused (:mod:`.batch_split`), with ``--skip-existing`` a case whose output exists is kept, and
``--report`` writes a record per case (:mod:`.batch_report`).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Deque, Dict, List, Optional, Tuple

from ..errors import FusionError, FusionInputError
from ..imaging.file_names import PICTURE_EXTENSIONS, VOLUME_EXTENSIONS, extension
from ..progress import ConsoleProgressBar
from .batch_report import BatchReport, check_report_path
from .batch_split import part_of
from .fuse_command import _fuse_pair, _same_path, _volume_outputs

if TYPE_CHECKING:
    from ..fusion.pipeline import FusionResult
    from ..network.model_files import FusionModel


def _batch_entries(folder: Path) -> Dict[str, Path]:
    supported = PICTURE_EXTENSIONS + VOLUME_EXTENSIONS
    return {p.name: p for p in sorted(folder.iterdir())
            if not p.name.startswith(".") and (p.is_dir() or extension(p) in supported)}


def _output_name(entry: Path) -> str:
    """The fused file's name for a batch entry: the same name, or NAME.nii.gz for a series folder."""
    return entry.name if not entry.is_dir() else f"{entry.name}.nii.gz"


def _case_outputs(entry: Path, output: Path, args: argparse.Namespace) -> List[Path]:
    """Every file a batch entry writes into the folder ``output``: the fused image and, for a volume, its
    colour fusion (with --colour) and sidecar JSON."""
    fused = output / _output_name(entry)
    volume = entry.is_dir() or extension(entry) in VOLUME_EXTENSIONS
    return [fused] + (_volume_outputs(fused, args) if volume else [])


def _check_collisions(entries: Dict[str, Path], output: Path, args: argparse.Namespace) -> None:
    """Refuse a batch where two entries would write the same output file (case-insensitively), counting the
    colour fusion and sidecar JSON files of volumes."""
    seen: Dict[str, Path] = {}
    for entry in entries.values():
        for written in (path.name for path in _case_outputs(entry, output, args)):
            if written.lower() in seen:
                raise FusionInputError(f"{seen[written.lower()]}, {entry}: both would be written to "
                                       f"{output / written}; rename one")
            seen[written.lower()] = entry


def _check_output_folder(args: argparse.Namespace) -> None:
    for folder in (args.a, args.b):
        if _same_path(args.output, folder):
            raise FusionInputError(f"{args.output}: is also an input folder; choose another output folder")
    if extension(args.output) in PICTURE_EXTENSIONS + VOLUME_EXTENSIONS:
        raise FusionInputError(f"{args.output}: A and B are folders of pairs, so the output is a folder; give a "
                               "folder name, not an image file name")
    if args.output.exists() and not args.output.is_dir():
        raise FusionInputError(f"{args.output}: is a file; A and B are folders of pairs, so give a folder")
    if args.report is not None:
        check_report_path(args.report, [args.a, args.b])


def device_label(device: str) -> str:
    """Where the network runs for ``--device``: ``cpu`` or ``cuda (<GPU name>)``."""
    import torch

    from ..fusion.slices import resolve_device

    resolved = resolve_device(device)
    return f"cuda ({torch.cuda.get_device_name(resolved)})" if resolved.type == "cuda" else resolved.type


def _print_summary(args: argparse.Namespace, done: List[str], existing: List[str], failures: List[Tuple[str, str]],
                   total: int, state: str) -> None:
    part = f" (part {args.part_id} of {args.num_parts}, numbered from 0)" if args.num_parts > 1 else ""
    print(f"{state} {len(done)} of {total} pairs into {args.output}{part}" + (f": {', '.join(done)}" if done else ""))
    if existing:
        print(f"kept {len(existing)} existing outputs (--skip-existing): {', '.join(existing)}")
    for name, why in failures:
        print(f"  skipped {name}: {why}", file=sys.stderr)


@dataclass
class _Outcome:
    """What became of one case: fused (``result``), a FusionError, or kept (--skip-existing); wall seconds."""

    result: Optional[FusionResult] = None
    error: Optional[FusionError] = None
    seconds: float = 0.0
    existing: bool = False


def _fuse_case(a: Path, b: Path, output: Path, model: FusionModel, args: argparse.Namespace,
               single_threaded: bool) -> _Outcome:
    if single_threaded:
        import torch

        torch.set_num_threads(1)  # this worker thread only
    start = time.perf_counter()
    try:
        return _Outcome(_fuse_pair(a, b, output, model, args, show_progress=False),
                        seconds=time.perf_counter() - start)
    except FusionError as err:
        return _Outcome(error=err, seconds=time.perf_counter() - start)


def _done(outcome: _Outcome) -> "Future[_Outcome]":
    future: "Future[_Outcome]" = Future()
    future.set_result(outcome)
    return future


def picture_workers(device: str) -> int:
    """Picture pairs fused side by side in a folder batch: one per torch thread on the CPU, each worker
    single-threaded (the network of one 256x256 pair does not split well over threads; docs/speed.md),
    and one on a GPU. Volumes are fused one at a time, each with every worker of its own."""
    import torch

    from ..fusion.slices import resolve_device

    return max(1, torch.get_num_threads()) if resolve_device(device).type == "cpu" else 1


def _is_picture(entry: Path) -> bool:
    return entry.is_file() and extension(entry) in PICTURE_EXTENSIONS


def _fits_side_by_side(a: Path, b: Path, model: FusionModel, workers: int) -> bool:
    """Whether the picture pair (a, b) may be fused beside ``workers - 1`` others: both are pictures and that
    many networks' activations for its size (from a's header) fit in free memory. A pair whose header cannot be
    read is fused alone, where reading it reports the problem."""
    if not (_is_picture(a) and _is_picture(b)):
        return False
    import SimpleITK as sitk

    from ..imaging.native_messages import native_stderr
    from ..memory import available_memory_bytes, fusion_bytes

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(a))
    try:
        with native_stderr():
            reader.ReadImageInformation()
    except RuntimeError:
        return False
    multiple = model.net.config.multiple
    width, height = (-(-side // multiple) * multiple for side in reader.GetSize()[:2])
    need = fusion_bytes(0, width * height, 1, model.net.config.hidden[0], on_cpu=True)
    free = available_memory_bytes()
    return free is None or need * workers <= free


class _Cases:
    """Runs the cases of a batch in name order and records them in that order: picture pairs on a pool of
    worker threads (at most ``workers`` running and one waiting), anything else in this thread once the
    pictures before it are done. The first error that stops the batch (not a bad pair) is raised after the
    cases already running have finished and been recorded; those not started are dropped."""

    def __init__(self, pool: ThreadPoolExecutor, workers: int, record: Callable[[str, _Outcome], None]):
        self.pool, self.workers, self.record = pool, workers, record
        self.queue: Deque[Tuple[str, "Future[_Outcome]"]] = deque()

    def add(self, name: str, job: Callable[[bool], _Outcome], parallel: bool) -> None:
        if parallel and self.workers > 1:
            self.queue.append((name, self.pool.submit(job, True)))
            while len(self.queue) > self.workers + 1:  # one waits, for the first worker to be free
                self._finish_one()
            return
        self.drain()
        self.queue.append((name, _done(job(False))))
        self._finish_one()

    def add_done(self, name: str, outcome: _Outcome) -> None:
        self.queue.append((name, _done(outcome)))
        if len(self.queue) > self.workers:
            self._finish_one()

    def drain(self) -> None:
        while self.queue:
            self._finish_one()

    def _finish_one(self) -> None:
        name, future = self.queue.popleft()
        try:
            self.record(name, future.result())
        except BaseException:
            self._stop()
            raise

    def _stop(self) -> None:
        """Drop the cases not started; wait for those running and record the ones that were fused."""
        while self.queue:
            name, future = self.queue.popleft()
            if future.cancel():
                continue
            try:
                outcome = future.result()
            except BaseException:
                continue
            if outcome.result is not None:
                self.record(name, outcome)


def run_batch(args: argparse.Namespace, model: FusionModel) -> int:
    """Fuse the pairs of this part of the batch; exit code 0, or 2 when a pair was missing or bad."""
    _check_output_folder(args)
    entries_a, entries_b = _batch_entries(args.a), _batch_entries(args.b)
    if not entries_a and not entries_b:
        raise FusionInputError(f"{args.a}, {args.b}: no images found in either folder")
    _check_collisions({n: e for n, e in entries_a.items() if n in entries_b}, args.output, args)
    names = part_of(set(entries_a) | set(entries_b), args.num_parts, args.part_id)
    device = device_label(args.device)
    report = BatchReport(args.report, {
        "pair": args.pair, "model": str(model.path or model.name), "device": device, "a": str(args.a),
        "b": str(args.b), "output": str(args.output), "part": {"id": args.part_id, "of": args.num_parts}})
    failures: List[Tuple[str, str]] = []
    for name in names:
        if name not in entries_a or name not in entries_b:
            folder = args.b if name in entries_a else args.a
            failures.append((name, f"missing in {folder}"))
            report.add(name, "missing", a=entries_a.get(name), b=entries_b.get(name), message=f"missing in {folder}")
    common = [name for name in names if name in entries_a and name in entries_b]
    args.output.mkdir(parents=True, exist_ok=True)
    done: List[str] = []
    existing: List[str] = []
    bar = ConsoleProgressBar("fusing pairs")

    finished: List[str] = []

    def record(name: str, outcome: _Outcome) -> None:
        a, b, output = entries_a[name], entries_b[name], args.output / _output_name(entries_a[name])
        finished.append(name)
        bar(len(finished) / len(common), name)
        if outcome.existing:
            existing.append(name)
            report.add(name, "existing", a, b, output, "the output exists (--skip-existing)")
        elif outcome.error is not None:
            report.add(name, "failed", a, b, output, str(outcome.error), {"total": outcome.seconds})
            if not isinstance(outcome.error, FusionInputError):
                raise outcome.error
            failures.append((name, str(outcome.error)))
        else:
            result = outcome.result
            done.append(name)
            report.add(name, "fused", a, b, output, "", {**result.seconds, "total": outcome.seconds},
                       result.registration_metric, result.reference, device)

    state = "interrupted after fusing"
    workers = picture_workers(args.device)
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="fusioncinn-pair") as pool:
            cases = _Cases(pool, workers, record)
            for name in common:
                a, b, output = entries_a[name], entries_b[name], args.output / _output_name(entries_a[name])
                if args.skip_existing and all(path.is_file() for path in _case_outputs(a, args.output, args)):
                    cases.add_done(name, _Outcome(existing=True))
                    continue
                cases.add(name, functools.partial(_fuse_case, a, b, output, model, args),
                          parallel=_fits_side_by_side(a, b, model, workers))
            cases.drain()
        bar(1.0, "done")
        state = "fused"
    except FusionError:
        state = "stopped after fusing"
        raise
    finally:
        bar.close()
        report.write(complete=state == "fused")
        _print_summary(args, done, existing, failures, len(names), state)
    return 0 if not failures else 2
