"""Fusing stacks of registered 2D slices with a FusionNet: padding, batching, devices.

Slices of any size are padded by reflection to a multiple of 32 (the network's 5 Haar levels) and
cropped back, so there are no tiles and no seams. The "paper" variant only takes its fixed
input size: its slices are padded to a multiple of that size and cut into tiles (its known flaw).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FusionInputError
from ..network.fusion_net import FusionNet
from ..progress import CancelCheck, ProgressCallback, report

DEVICES = ("auto", "cpu", "cuda")
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


def default_batch_size(height: int, width: int) -> int:
    """Slices per batch: about 64 MPixel of activations' worth, 1..32."""
    return int(max(1, min(32, (4 * 1024 * 1024) // max(1, height * width))))


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


def fuse_batch(net: FusionNet, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Fuse (N, 1, H, W) slices in [0, 1] of any size; returns (N, 1, H, W) clipped to [0, 1]."""
    h, w = a.shape[-2:]
    multiple = net.config.input_size or net.config.multiple
    a_pad, b_pad = _pad(a, multiple), _pad(b, multiple)
    fused = _run_tiles(net, a_pad, b_pad) if net.config.input_size else net(a_pad, b_pad).fused
    return fused[..., :h, :w].clamp(0.0, 1.0)


def fuse_slices(net: FusionNet, a: np.ndarray, b: np.ndarray, *, device: str = "auto",
                batch_size: Optional[int] = None, progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelCheck] = None) -> np.ndarray:
    """Fuse registered slice stacks a (CT/PET/SPECT) and b (MRI), (N, H, W) float32 in [0, 1].

    Returns (N, H, W) float32 in [0, 1]. Runs under ``torch.inference_mode`` in float32; slices where
    both inputs are exactly 0 are returned as 0 without running the network (the same result)."""
    if a.shape != b.shape or a.ndim != 3:
        raise FusionInputError(f"slice stacks must be (N, H, W) of equal shape, got {a.shape} and {b.shape}")
    n, h, w = a.shape
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise FusionInputError(f"slice size {h}x{w} is outside {MIN_SIDE}..{MAX_SIDE} pixels")
    torch_device = resolve_device(device)
    batch = batch_size or default_batch_size(h, w)
    if batch < 1:
        raise FusionInputError(f"batch size must be >= 1, got {batch}")
    net = net.to(torch_device).eval()
    out = np.zeros((n, h, w), dtype=np.float32)
    busy = np.flatnonzero((a.reshape(n, -1).max(1) > 0) | (b.reshape(n, -1).max(1) > 0))
    with torch.inference_mode():
        for start in range(0, len(busy), batch):
            report(progress, start / max(1, len(busy)), f"slice {start}/{len(busy)}", cancel)
            index = busy[start:start + batch]
            ta = torch.from_numpy(np.ascontiguousarray(a[index], dtype=np.float32)).unsqueeze(1).to(torch_device)
            tb = torch.from_numpy(np.ascontiguousarray(b[index], dtype=np.float32)).unsqueeze(1).to(torch_device)
            out[index] = fuse_batch(net, ta, tb).squeeze(1).float().cpu().numpy()
    report(progress, 1.0, f"{n} slices fused", cancel)
    return out
