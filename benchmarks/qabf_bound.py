"""How far the fused pixels themselves can go: per CT-MRI validation pair, the fused image is
optimised directly (no network) for w_qabf * Qabf + w_vif * VIF + w_ssim * SSIM, starting from the
shipped model's output; the four target metrics before and after, with the Laplacian pyramid's.

    .venv/bin/python benchmarks/qabf_bound.py [--weights QABF VIF SSIM] [--every N] [--steps N]
                                              [--model PATH] [--data DIR]

Qabf, VIF and SSIM are the training loss's differentiable versions, equal to the metrics; the
result is scored as quality.py scores (8-bit rounding). It bounds what a fusion rule could reach on
these images, not what a network reaches on unseen ones. Skips with a reason when the atlas is absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import ATLAS, TARGET_METRICS, net_fuser, score, validation_arrays  # noqa: E402
from FusionCINNLib.baselines import fuse_laplacian_pyramid  # noqa: E402
from FusionCINNLib.network.model_files import default_model_path, load_model  # noqa: E402
from FusionCINNLib.training.losses import qabf, ssim, vifp  # noqa: E402


def optimise_pixels(start: np.ndarray, a: np.ndarray, b: np.ndarray, weights: List[float], steps: int
                    ) -> np.ndarray:
    """(H, W) fused image in [0, 1] after ``steps`` Adam steps (lr 2e-3) on its pixels, maximising
    w_qabf * Qabf(F; A, B) + w_vif * (VIF(A, F) + VIF(B, F)) + w_ssim * (SSIM(F, A) + SSIM(F, B))."""
    w_qabf, w_vif, w_ssim = weights
    x, y = torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None]
    pixels = torch.from_numpy(start)[None, None].clamp(0, 1).requires_grad_(True)
    optimiser = torch.optim.Adam([pixels], lr=2e-3)
    for _ in range(steps):
        fused = pixels.clamp(0, 1)
        objective = w_qabf * qabf(fused, x, y).sum()
        if w_vif:
            objective = objective + w_vif * (vifp(255 * x, 255 * fused) + vifp(255 * y, 255 * fused)).sum()
        if w_ssim:
            objective = objective + w_ssim * (ssim(fused, x) + ssim(fused, y)).sum()
        optimiser.zero_grad()
        (-objective).backward()
        optimiser.step()
    return pixels.detach().clamp(0, 1)[0, 0].numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ATLAS)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped CT-MRI model")
    parser.add_argument("--weights", type=float, nargs=3, default=[1.0, 0.5, 1.5], metavar=("QABF", "VIF", "SSIM"))
    parser.add_argument("--every", type=int, default=8, help="every Nth CT-MRI validation pair")
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: atlas data not found at {args.data}")
        return 0
    torch.set_num_threads(1)
    val = validation_arrays(args.data, "ct-mri")
    network = net_fuser(load_model(args.model or default_model_path("ct-mri")).net)
    rows: Dict[str, List[Dict[str, float]]] = {"Laplacian pyramid (4)": [], "model": [], "optimised pixels": []}
    for a, b in zip(val.a[::args.every], val.b[::args.every]):
        start = network(a, b)
        rows["Laplacian pyramid (4)"].append(score(lambda x, y: fuse_laplacian_pyramid(x, y, levels=4), a, b))
        rows["model"].append(score(lambda x, y: start, a, b))
        rows["optimised pixels"].append(score(lambda x, y: optimise_pixels(start, x, y, args.weights, args.steps), a, b))
    print(f"{len(val.a[::args.every])} CT-MRI pairs; objective weights Qabf {args.weights[0]}, VIF {args.weights[1]}, "
          f"SSIM {args.weights[2]}; {args.steps} steps\n")
    print("| fused | " + " | ".join(TARGET_METRICS) + " |\n|---|" + "---|" * len(TARGET_METRICS))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([v[m] for v in values]):.4f}" for m in TARGET_METRICS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
