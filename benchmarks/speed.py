"""Fusion speed of the network alone: ms per slice at 256x256 and 512x512, batch 1 and 16, for the
default (fully convolutional) variant and the paper variant (fully connected coarsest block, 128x128
tiles), with parameter counts and model file sizes.

    .venv/bin/python benchmarks/speed.py [--model PATH] [--device cpu|cuda] [--repeats N] [--batches N ...]
                                         [--no-paper]

Without --model the default variant is the shipped model when there is one, else a freshly
initialised network of the default architecture (the same cost: weights do not change speed).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.fusion.allocator import keep_freed_memory  # noqa: E402
from FusionCINNLib.fusion.slices import fuse_slices  # noqa: E402
from FusionCINNLib.fusion.traced_net import TRACE_AFTER  # noqa: E402
from FusionCINNLib.network import PAPER_CONFIG, FusionNet, ModelConfig  # noqa: E402
from FusionCINNLib.network.cinn import count_trainable_parameters  # noqa: E402
from FusionCINNLib.network.model_files import (FusionModel, available_models, load_model,  # noqa: E402
                                               save_model)


def _file_size_mb(net: FusionNet) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_model(FusionModel(net, []), Path(tmp) / "m")
        return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def time_fusion(net: FusionNet, size: int, batch: int, device: str, repeats: int, precision: str) -> float:
    """Median ms per slice over ``repeats`` runs of ``batch`` slices, in the steady state: after enough
    warm-up runs for the CPU path to trace the network for this shape (fusion/traced_net.py)."""
    rng = np.random.default_rng(0)
    a = rng.random((batch, size, size), dtype=np.float32)
    b = rng.random((batch, size, size), dtype=np.float32)
    for _ in range(TRACE_AFTER + 1):
        fuse_slices(net, a, b, device=device, batch_size=batch, precision=precision)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fuse_slices(net, a, b, device=device, batch_size=batch, precision=precision)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000 / batch)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16], help="batch sizes to time")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    parser.add_argument("--no-paper", action="store_true", help="time the default variant only")
    args = parser.parse_args()
    keep_freed_memory()  # as the fusioncinn command does
    shipped = available_models()
    if args.model or shipped:
        default = load_model(args.model or shipped[0])
        default_name = f"default ({default.name})"
        default_net = default.net
    else:
        default_net, default_name = FusionNet(ModelConfig()).eval(), "default (untrained)"
    variants = [(default_name, default_net)]
    if not args.no_paper:
        variants.append(("paper (128 tiles)", FusionNet(PAPER_CONFIG).eval()))
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {args.device} ({device_name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores, precision {args.precision}")
    heads = [f"{size} b{batch}" for size in (256, 512) for batch in args.batches]
    print(f"{'variant':28s} {'params':>10s} {'file MB':>8s} " + " ".join(f"{h:>9s}" for h in heads)
          + "   (ms per slice)")
    for name, net in variants:
        cells = [time_fusion(net, size, batch, args.device, args.repeats, args.precision)
                 for size in (256, 512) for batch in args.batches]
        print(f"{name:28s} {count_trainable_parameters(net):10,d} {_file_size_mb(net):8.1f} "
              + " ".join(f"{c:9.2f}" for c in cells))


if __name__ == "__main__":
    main()
