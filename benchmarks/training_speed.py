"""Training speed: ms per optimiser step (forward, every loss term, backward, Adam) and patches per
second, for the shipped architecture at the default 128x128 patches, per batch size.

    .venv/bin/python benchmarks/training_speed.py [--device cpu|cuda] [--batches N ...] [--steps N]

The patches are smooth random images (the cost does not depend on content); the first two steps
are warm-up and not counted. An epoch of the atlas data (`fusioncinn train` defaults: 451 training
pairs, batch 8) is 57 steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.network import FusionNet, ModelConfig  # noqa: E402
from FusionCINNLib.network.model_files import available_models, load_model  # noqa: E402
from FusionCINNLib.training.losses import LossWeights  # noqa: E402
from FusionCINNLib.training.trainer import TrainingStep  # noqa: E402


def smooth_patches(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, size, size) images in [0, 1]: random noise blurred by a 9x9 box, min-max scaled."""
    noise = torch.rand((n, 1, size + 8, size + 8), generator=generator)
    blurred = F.avg_pool2d(noise, 9, stride=1)
    low = blurred.amin(dim=(1, 2, 3), keepdim=True)
    high = blurred.amax(dim=(1, 2, 3), keepdim=True)
    return (blurred - low) / (high - low)


def time_steps(net: FusionNet, batch: int, patch: int, steps: int, device: torch.device) -> float:
    """Median ms per optimiser step over ``steps`` steps after two warm-up steps."""
    step_module = TrainingStep(net, LossWeights()).to(device).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(0)
    a = smooth_patches(batch, patch, generator).to(device)
    b = smooth_patches(batch, patch, generator).to(device)
    functional = torch.zeros(batch, dtype=torch.bool, device=device)
    no_lesion, no_mri_lesion = torch.zeros_like(a), torch.zeros(batch, dtype=torch.bool, device=device)
    times = []
    for k in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        terms = step_module(a, b, functional, no_lesion, no_lesion, no_mri_lesion)
        optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= 2:
            times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    shipped = available_models()
    config = load_model(shipped[0]).net.config if shipped else ModelConfig()
    name = torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores; patch {args.patch}x{args.patch}, {args.steps} timed steps")
    print("| batch | ms per step | patches/s |\n|---|---|---|")
    for batch in args.batches:
        torch.manual_seed(0)
        ms = time_steps(FusionNet(config), batch, args.patch, args.steps, device)
        print(f"| {batch} | {ms:.1f} | {1000.0 * batch / ms:.1f} |")


if __name__ == "__main__":
    main()
