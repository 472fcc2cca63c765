"""Fusing stacks of registered 2D slices with a FusionNet: padding, batching, devices, precision.

Slices of any size are padded by reflection to a multiple of 32 (the network's 5 Haar levels) and
cropped back, so there are no tiles and no seams. The "paper" variant only takes its fixed
input size: its slices are padded to a multiple of that size and cut into tiles (its known flaw).

On CUDA, batches travel through pinned memory and the coupling subnets run in float16 by default
(``precision``; the invertible transforms stay float32); CUDA out-of-memory halves the batch and retries,
and at batch 1 falls back to the CPU with a warning.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..choices import DEVICES, PRECISIONS
from ..errors import FusionInputError
from ..network.cinn import set_subnet_precision
from ..network.finding_transfer import uniform_thresholds
from ..network.fusion_net import FusionNet, TransferParts
from ..progress import CancelCheck, ProgressCallback, report
from .across_slices import SliceFinisher
from .traced_net import traced_fusion

MIN_SIDE, MAX_SIDE = 8, 4096


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an input error."""
    if device not in DEVICES:
        raise FusionInputError(f"unknown device {device!r}; expected one of {DEVICES}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise FusionInputError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """'auto' -> float16 subnets on CUDA, float32 on the CPU (exact there).

    Measured on the atlas with a trained model: float16 subnets change fused pixels by at most
    0.0006 (under 1/255); bfloat16 by up to 0.005, over 1/255, so bfloat16 is never automatic."""
    if precision not in PRECISIONS:
        raise FusionInputError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, precision)


BATCH_PIXELS = {"cpu": 512 * 512, "cuda": 512 * 512 * 64}
"""Pixels per batch by device. CPU: one 512x512 slice per batch and per worker thread (larger
batches fall out of cache and each slice gets slower). CUDA: 64 slices of 512x512 ran the network
1.7x faster per slice than 16 on an H100 (docs/results.md, Speed)."""


def default_batch_size(height: int, width: int, device_type: str = "cpu") -> int:
    """Slices per batch for (height, width) slices on ``device_type`` ("cpu" or "cuda"), 1..128."""
    budget = BATCH_PIXELS.get(device_type, BATCH_PIXELS["cpu"])
    return int(max(1, min(128, budget // max(1, height * width))))


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _run_tiles(net: FusionNet, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    size = net.config.input_size
    n, _, h, w = a.shape
    out = torch.empty_like(a)
    for top in range(0, h, size):
        for left in range(0, w, size):
            tile = (slice(None), slice(None), slice(top, top + size), slice(left, left + size))
            out[tile] = net(a[tile], b[tile]).fused
    return out


def fuse_batch(net: FusionNet, a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype = torch.float32,
               salience: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Fuse (N, 1, H, W) slices in [0, 1] of any size; returns float32 (N, 1, H, W) clipped to [0, 1].

    With a ``dtype`` other than float32 the coupling subnets run in that precision; the invertible
    transforms themselves stay in float32. On the CPU in float32, a shape fused often runs as a traced
    graph (:mod:`.traced_net`; the same values within 2e-6). ``salience``: the finding transfer's
    threshold per level (:mod:`.salience`), on the inputs' device; None: 0.02 at every level."""
    h, w = a.shape[-2:]
    return _run_padded(net, a, b, dtype, salience, parts=False)[..., :h, :w].clamp(0.0, 1.0)


def fuse_batch_parts(net: FusionNet, a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype = torch.float32,
                     salience: Optional[torch.Tensor] = None) -> TransferParts:
    """As :func:`fuse_batch`, for a volume's slices: the fusion before the headroom pedestal
    (FusionNet.transfer_parts), on the slices padded to the network's multiple (crop after finishing)."""
    return _run_padded(net, a, b, dtype, salience, parts=True)


def _run_padded(net: FusionNet, a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype,
                salience: Optional[torch.Tensor], parts: bool) -> Union[torch.Tensor, TransferParts]:
    """The fused slices (padded, not clipped) or their TransferParts (padded)."""
    multiple = net.config.input_size or net.config.multiple
    a_pad, b_pad = _pad(a, multiple), _pad(b, multiple)
    traced = (traced_fusion(net, a_pad, b_pad, parts)
              if dtype == torch.float32 and not net.config.input_size else None)
    if traced is not None:
        thresholds = salience if salience is not None else uniform_thresholds(net.config.finding_levels)
        out = traced(a_pad, b_pad, thresholds)
        return TransferParts(*out) if parts else out
    set_subnet_precision(net, dtype)
    try:
        if parts:
            return net.transfer_parts(a_pad, b_pad, salience)
        return _run_tiles(net, a_pad, b_pad) if net.config.input_size else net(a_pad, b_pad, salience).fused
    finally:
        set_subnet_precision(net, torch.float32)


@contextlib.contextmanager
def cuda_settings(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """On CUDA with float32, forbid TF32 so GPU results match the CPU's within 1e-4. Restores the
    previous settings afterwards. (cuDNN autotuning is left off: on one volume its search cost more
    than it saved on an H100: 51 slices/s at 512x512 with it, 132-143 without.)"""
    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class _Runner:
    """Runs batches on a device; on CUDA out-of-memory halves the batch, then falls back to the CPU.

    On CUDA, inputs are staged through one reusable pinned host buffer per side."""

    def __init__(self, net: FusionNet, device: torch.device, dtype: torch.dtype, batch: int,
                 salience: Optional[Sequence[float]] = None):
        on_device = all(p.device == device for p in net.parameters())  # .to() walks every tensor: 1.5 ms a call
        self.net = (net if on_device else net.to(device)).eval()
        self.device, self.dtype, self.batch = device, dtype, batch
        self.salience = None if salience is None else torch.tensor(salience, dtype=torch.float32)
        self.staging: dict = {}

    def _salience(self) -> Optional[torch.Tensor]:
        if self.salience is not None and self.salience.device != self.device:
            self.salience = self.salience.to(self.device)
        return self.salience

    def _to_device(self, array: np.ndarray, side: str) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).unsqueeze(1)
        if self.device.type != "cuda":
            return tensor
        buffer = self.staging.get(side)
        if buffer is None or buffer.shape[1:] != tensor.shape[1:] or buffer.shape[0] < len(tensor):
            buffer = torch.empty(tensor.shape, dtype=torch.float32).pin_memory()
            self.staging[side] = buffer
        staged = buffer[:len(tensor)]
        staged.copy_(tensor)
        return staged.to(self.device, non_blocking=True)

    def _fall_back_to_cpu(self) -> None:
        print("warning: GPU out of memory even at batch size 1; continuing on the CPU", file=sys.stderr)
        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.net = self.net.to(self.device)
        torch.cuda.empty_cache()

    def fuse(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Fuse (n, H, W) arrays in chunks of the current batch size; returns (n, H, W) float32."""
        out = np.empty(a.shape, np.float32)
        for part, fused in self._chunks(a, b, fuse_batch):
            out[part] = fused.squeeze(1).cpu().numpy()
        return out

    def fuse_parts(self, a: np.ndarray, b: np.ndarray) -> List[Tuple[slice, TransferParts]]:
        """The TransferParts of (n, H, W) arrays, by chunk of rows."""
        return list(self._chunks(a, b, fuse_batch_parts))

    def _chunks(self, a: np.ndarray, b: np.ndarray, run: Callable) -> Iterator[Tuple[slice, object]]:
        done = 0
        while done < len(a):
            part = slice(done, min(done + self.batch, len(a)))
            try:
                result = run(self.net, self._to_device(a[part], "a"), self._to_device(b[part], "b"),
                             self.dtype, self._salience())
            except torch.cuda.OutOfMemoryError:
                if self.device.type != "cuda":
                    raise
                torch.cuda.empty_cache()
                if self.batch > 1:
                    self.batch = max(1, self.batch // 2)
                    print(f"warning: GPU out of memory; retrying with batch size {self.batch}", file=sys.stderr)
                else:
                    self._fall_back_to_cpu()
                continue
            yield part, result
            done = part.stop


def worker_count(device: torch.device, dtype: torch.dtype, batches: int, requested: Optional[int] = None) -> int:
    """Worker threads for ``batches`` batches: on the CPU in float32, ``requested`` or one per torch
    thread (each worker then runs single-threaded); otherwise 1 (reduced precision is set on the
    shared network per batch, so it runs one batch at a time). On 2 cores two single-threaded
    workers fused 512x512 slices about 1.5x faster than one worker with 2 threads, whose small
    low-resolution convolutions and element-wise steps do not split well across threads."""
    if requested is not None and requested < 1:
        raise FusionInputError(f"workers must be >= 1, got {requested}")
    if device.type != "cpu" or dtype != torch.float32:
        return 1
    return max(1, min(requested or torch.get_num_threads(), batches))


def _fuse_sequentially(work: Callable, store: Callable, batches: list, progress: Optional[ProgressCallback],
                       cancel: Optional[CancelCheck]) -> None:
    done, total = 0, sum(len(index) for index in batches)
    for index in batches:
        report(progress, done / total, f"slice {done}/{total}", cancel)
        store(index, work(index))
        done += len(index)


def _fuse_in_threads(work: Callable, store: Callable, batches: list, workers: int,
                     progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]) -> None:
    """``work`` on batches on ``workers`` single-threaded CPU workers, each then ``store``-ing its result under a lock
    (a volume's slices are finished there, beside the other workers' network); a cancel stops the batches not
    yet started."""
    lock = threading.Lock()

    def run(index: np.ndarray) -> int:
        torch.set_num_threads(1)
        with torch.inference_mode():
            result = work(index)
            with lock:
                store(index, result)
        return len(index)

    with ThreadPoolExecutor(workers, thread_name_prefix="fusioncinn") as pool:
        pending = [pool.submit(run, index) for index in batches]
        try:
            done, total = 0, sum(len(index) for index in batches)
            report(progress, 0.0, f"slice 0/{total}", cancel)
            for future in as_completed(pending):
                done += future.result()
                report(progress, done / total, f"slice {done}/{total}", cancel)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def busy_slices(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices of the slices of (N, H, W) stacks a and b where either holds a value above 0 (the
    others are air in both inputs and fuse to 0 without the network)."""
    n = len(a)
    return np.flatnonzero((a.reshape(n, -1).max(1) > 0) | (b.reshape(n, -1).max(1) > 0))


def fuse_slices(net: FusionNet, a: np.ndarray, b: np.ndarray, *, device: str = "auto",
                batch_size: Optional[int] = None, precision: str = "auto", workers: Optional[int] = None,
                salience: Optional[Sequence[float]] = None, only: Optional[np.ndarray] = None,
                spacing: Optional[Sequence[float]] = None, progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelCheck] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Fuse registered slice stacks a (CT/PET/SPECT) and b (MRI), (N, H, W) float32 in [0, 1].

    Returns (N, H, W) float32 in [0, 1]. Runs under ``torch.inference_mode``; slices where both
    inputs are exactly 0 are returned as 0 without running the network (the same result). ``workers``:
    CPU worker threads (see :func:`worker_count`); the result does not depend on it (within 1e-5).
    ``salience``: the finding transfer's threshold per level for A's units (:mod:`.salience`); None: 0.02.
    ``only``: indices of the slices to fuse (the caller replaces the others, e.g. beyond a field of view);
    they are returned as 0 without running the network. None: every slice. ``spacing``: the stack is a volume
    with this (slice, row, column) spacing in mm, and the headroom pedestal reaches across its slices
    (:mod:`.across_slices`); None: each slice on its own (pictures, unrelated slices). ``out``: a float32 (N, H, W)
    array to write the result into and return instead of a new one; it may be ``a`` or ``b`` itself (a slice of it is
    written only once the network has read that slice), which spares a volume's memory."""
    if a.shape != b.shape or a.ndim != 3:
        raise FusionInputError(f"slice stacks must be (N, H, W) of equal shape, got {a.shape} and {b.shape}")
    if out is not None and (out.shape != a.shape or out.dtype != np.float32):
        raise ValueError(f"out must be float32 of shape {a.shape}, got {out.dtype} {out.shape}")
    n, h, w = a.shape
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise FusionInputError(f"slice size {h}x{w} is outside {MIN_SIDE}..{MAX_SIDE} pixels")
    torch_device = resolve_device(device)
    batch = batch_size or default_batch_size(h, w, torch_device.type)
    if batch < 1:
        raise FusionInputError(f"batch size must be >= 1, got {batch}")
    runner = _Runner(net, torch_device, resolve_precision(precision, torch_device), batch, salience)
    busy = busy_slices(a, b) if only is None else np.intersect1d(busy_slices(a, b), only)
    if out is None:
        out = np.zeros((n, h, w), dtype=np.float32)
    else:
        out[np.setdiff1d(np.arange(n), busy)] = 0.0  # slices the network will not read
    batches = [busy[start:start + batch] for start in range(0, len(busy), batch)]
    threads = worker_count(runner.device, runner.dtype, len(batches), workers)
    if spacing is not None and net.config.finding_levels and not net.config.input_size:
        finisher = SliceFinisher(out, busy, spacing)

        def work(index: np.ndarray) -> object:
            return runner.fuse_parts(a[index], b[index])

        def store(index: np.ndarray, chunks: object) -> None:
            for part, parts in chunks:
                finisher.add(index[part], parts)
            finisher.finish_ready()
    else:
        def work(index: np.ndarray) -> object:
            return runner.fuse(a[index], b[index])

        def store(index: np.ndarray, fused: object) -> None:
            out[index] = fused
    with torch.inference_mode(), cuda_settings(runner.device, runner.dtype):
        if threads > 1:
            _fuse_in_threads(work, store, batches, threads, progress, cancel)
        else:
            _fuse_sequentially(work, store, batches, progress, cancel)
    report(progress, 1.0, f"{n} slices fused", cancel)
    return out
