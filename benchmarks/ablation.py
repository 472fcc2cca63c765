"""Loss and architecture ablation: short training runs that each change one loss weight or the
network's size, scored on the validation cases (by case, seed 0) with the ten metrics. This is what
the loss weights and the default architecture in docs/results.md rest on.

    .venv/bin/python benchmarks/ablation.py [--epochs 6] [--data DIR] [--work runs/ablation] [--only NAME ...]

Each run trains from the same seed for --epochs epochs; prints one markdown row per run (mean over
pair types). Skips when the atlas is absent. Speed of each architecture: benchmarks/speed.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.metrics import METRIC_NAMES  # noqa: E402
from FusionCINNLib.network import ModelConfig  # noqa: E402
from FusionCINNLib.network.model_files import load_model  # noqa: E402
from FusionCINNLib.training.losses import LossWeights  # noqa: E402
from FusionCINNLib.training.trainer import Trainer, TrainingConfig  # noqa: E402

ATLAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "aanlib"
DEFAULT = LossWeights().to_dict()
WEIGHT_ORDER = ("intensity", "gradient", "edge", "ssim", "latent", "likelihood")
WIDE = {"hidden": [16, 32, 48, 64, 64], "blocks": [2, 2, 2, 2, 2]}
"""The first architecture (the v0 model), on which the image, latent and likelihood terms were ablated."""
NARROW = {"hidden": [8, 16, 32, 48, 48], "blocks": [1, 1, 2, 2, 2]}
SLIM = {"hidden": [8, 16, 32, 48, 48], "blocks": [1, 1, 1, 1, 1]}
"""The default architecture since v1 (ModelConfig())."""
RUNS = {
    "wide": {"architecture": WIDE, "loss": {"edge": 0.0}},
    "wide, no intensity": {"architecture": WIDE, "loss": {"edge": 0.0, "intensity": 0.0}},
    "wide, no gradient": {"architecture": WIDE, "loss": {"edge": 0.0, "gradient": 0.0}},
    "wide, no SSIM": {"architecture": WIDE, "loss": {"edge": 0.0, "ssim": 0.0}},
    "wide, no likelihood": {"architecture": WIDE, "loss": {"edge": 0.0, "likelihood": 0.0}},
    "wide, latent 0.1": {"architecture": WIDE, "loss": {"edge": 0.0, "latent": 0.1}},
    "narrow, edge 0": {"architecture": NARROW, "loss": {"edge": 0.0}},
    "narrow, edge 1": {"architecture": NARROW, "loss": {"edge": 1.0}},
    "narrow, edge 5": {"architecture": NARROW, "loss": {"edge": 5.0}},
    "narrow, edge 10": {"architecture": NARROW, "loss": {"edge": 10.0}},
    "slim, edge 0": {"architecture": SLIM, "loss": {"edge": 0.0}},
    "slim, edge 1": {"architecture": SLIM, "loss": {"edge": 1.0}},
    "slim, edge 5": {"architecture": SLIM, "loss": {"edge": 5.0}},
    "slim, edge 5, no gradient": {"architecture": SLIM, "loss": {"edge": 5.0, "gradient": 0.0}},
    "slim, edge 10 (default)": {"architecture": SLIM, "loss": {"edge": 10.0}},
    "slim, edge 20": {"architecture": SLIM, "loss": {"edge": 20.0}},
    "slim, edge 10, intensity 0.5": {"architecture": SLIM, "loss": {"edge": 10.0, "intensity": 0.5}},
    "slim, edge 10, SSIM 2": {"architecture": SLIM, "loss": {"edge": 10.0, "ssim": 2.0}},
}
"""Each run's changes from the default loss weights (LossWeights) and architecture (ModelConfig)."""


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
    print("| run | hidden / blocks | weights (int, grad, edge, ssim, latent, ML) | " + " | ".join(METRIC_NAMES)
          + " | score | min |")
    print("|---|---|---|" + "---|" * (len(METRIC_NAMES) + 2))
    for name in args.only or RUNS:
        weights = dict(DEFAULT, **RUNS[name].get("loss", {}))
        architecture = dict(ModelConfig().to_dict(), **RUNS[name].get("architecture", {}))
        out = args.work / name.replace(" (default)", "").replace(",", "").replace(" ", "_").replace(".", "")
        result_file = out.with_suffix(".json")
        if not result_file.exists():
            start = time.perf_counter()
            config = TrainingConfig(data=str(args.data), out=str(out), epochs=args.epochs, val_every=args.epochs,
                                    val_images=1000, loss=weights, device="cpu",
                                    architecture=architecture)
            Trainer(config).run()
            validation = load_model(out).provenance["validation"]
            validation["minutes"] = (time.perf_counter() - start) / 60
            result_file.write_text(json.dumps(validation, indent=1))
        validation = json.loads(result_file.read_text())
        mean = validation["mean"]
        w = ", ".join(f"{weights[k]:g}" for k in WEIGHT_ORDER)
        shape = "-".join(map(str, architecture["hidden"])) + " / " + "-".join(map(str, architecture["blocks"]))
        print(f"| {name} | {shape} | {w} | " + " | ".join(f"{mean[m]:.3f}" for m in METRIC_NAMES)
              + f" | {validation['score']:.4f} | {validation['minutes']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
