"""Loss ablation: short training runs that each change one loss weight, scored on the validation
cases (by case, seed 0) with the ten metrics. This is what the loss weights in the README rest on.

    .venv/bin/python benchmarks/ablation.py [--epochs 6] [--data DIR] [--work runs/ablation] [--only NAME ...]

Each run trains the default architecture from the same seed for --epochs epochs; prints one
markdown row per run (mean over pair types) and per pair type. Skips when the atlas is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.metrics import METRIC_NAMES  # noqa: E402
from FusionCINNLib.network.model_files import load_model  # noqa: E402
from FusionCINNLib.training.losses import LossWeights  # noqa: E402
from FusionCINNLib.training.trainer import Trainer, TrainingConfig  # noqa: E402

ATLAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "aanlib"
DEFAULT = LossWeights().to_dict()
RUNS = {
    "default": {},
    "no intensity": {"intensity": 0.0},
    "no gradient": {"gradient": 0.0},
    "no SSIM": {"ssim": 0.0},
    "no likelihood": {"likelihood": 0.0},
    "with latent 0.1": {"latent": 0.1},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ATLAS)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--work", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--only", nargs="*", default=None, choices=list(RUNS))
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: atlas data not found at {args.data}")
        return 0
    print("| run | weights (int, grad, ssim, latent, ML) | " + " | ".join(METRIC_NAMES) + " | score | min |")
    print("|---|---|" + "---|" * (len(METRIC_NAMES) + 2))
    for name in args.only or RUNS:
        weights = dict(DEFAULT, **RUNS[name])
        out = args.work / name.replace(" ", "_").replace(".", "")
        result_file = out.with_suffix(".json")
        if not result_file.exists():
            start = time.perf_counter()
            config = TrainingConfig(data=str(args.data), out=str(out), epochs=args.epochs, val_every=args.epochs,
                                    val_images=1000, loss=weights, device="cpu")
            Trainer(config).run()
            validation = load_model(out).provenance["validation"]
            validation["minutes"] = (time.perf_counter() - start) / 60
            result_file.write_text(json.dumps(validation, indent=1))
        validation = json.loads(result_file.read_text())
        mean = validation["mean"]
        w = ", ".join(f"{weights[k]:g}" for k in ("intensity", "gradient", "ssim", "latent", "likelihood"))
        print(f"| {name} | {w} | " + " | ".join(f"{mean[m]:.3f}" for m in METRIC_NAMES)
              + f" | {validation['score']:.4f} | {validation['minutes']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
