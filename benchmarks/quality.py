"""Fusion quality on the validation cases of the atlas: the ten metrics and ms per image, per pair
type, for FusionCINN (default and paper variant) and the classical baselines.

    .venv/bin/python benchmarks/quality.py [--model PATH] [--paper-model PATH] [--pair-model PATH ...]
                                           [--compare PATH ...] [--data DIR]

The validation cases are those of ``fusioncinn train``'s split (seed 0, 20 % of cases, by case).
PET/SPECT are scored on Y (BT.601); every fused image is rounded to 8 bits before scoring, as a
saved PNG would be. After each pair type's table, every FusionCINN row is compared with the best
classical baseline on VIF, Qabf, SCD and SSIM. Skips with a reason when the atlas folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.baselines import fuse_average, fuse_dwt_max_abs, fuse_laplacian_pyramid  # noqa: E402
from FusionCINNLib.fusion.slices import fuse_slices  # noqa: E402
from FusionCINNLib.metrics import METRIC_NAMES, compute_metrics  # noqa: E402
from FusionCINNLib.network.model_files import available_models, default_model_path, load_model  # noqa: E402
from FusionCINNLib.training.data import PairArrays, load_arrays, scan_pictures, split_for_pair  # noqa: E402

ATLAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "aanlib"
Fuser = Callable[[np.ndarray, np.ndarray], np.ndarray]


TARGET_METRICS = ("VIF", "Qabf", "SCD", "SSIM")


def validation_arrays(data: Path, pair: str = "all", val_fraction: float = 0.2, seed: int = 0) -> PairArrays:
    """The validation slices of ``pair`` ('all': every type) in ``fusioncinn train``'s split of ``data``."""
    _, records = split_for_pair(scan_pictures(data, "all"), pair, val_fraction, seed)
    return load_arrays(records)


def network_fuser(path: Path) -> Fuser:
    return net_fuser(load_model(path).net)


def net_fuser(net: torch.nn.Module) -> Fuser:

    def fuse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return fuse_slices(net, a[None], b[None], device="cpu", batch_size=1)[0]

    return fuse


def score(method: Fuser, a: np.ndarray, b: np.ndarray) -> Dict[str, float]:
    """Metrics of one fused pair (0-255 scale) plus the fusion time in ms."""
    start = time.perf_counter()
    fused = method(a, b)
    ms = (time.perf_counter() - start) * 1000
    values = compute_metrics(np.round(fused * 255.0), np.round(a * 255.0), np.round(b * 255.0))
    values["ms"] = ms
    return values


def print_against_baselines(table: Dict[str, Dict[str, float]]) -> None:
    """One line per FusionCINN row: its change (%) from the best classical baseline on each target metric."""
    baselines = {name: row for name, row in table.items() if not name.startswith("FusionCINN")}
    for name, row in table.items():
        if name in baselines:
            continue
        parts = []
        for metric in TARGET_METRICS:
            best = max(baselines, key=lambda b: baselines[b][metric])
            change = 100 * (row[metric] / baselines[best][metric] - 1)
            parts.append(f"{metric} {change:+.1f} % (vs {best})")
        print(f"{name} against the best baseline: " + "; ".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ATLAS)
    parser.add_argument("--model", type=Path, default=None,
                        help="default: per pair type, the shipped model the CLI uses for it")
    parser.add_argument("--paper-model", type=Path, default=None, help="a trained paper-variant model")
    parser.add_argument("--pair-model", type=Path, nargs="*", default=[],
                        help="models trained for single pair types (row 'FusionCINN per pair type')")
    parser.add_argument("--compare", type=Path, nargs="*", default=[],
                        help="other models, one row each (row 'FusionCINN <folder name>')")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: atlas data not found at {args.data}")
        return 0
    torch.set_grad_enabled(False)
    val = validation_arrays(args.data, "all", args.val_fraction, args.seed)
    methods: Dict[str, Fuser] = {}
    use_shipped = args.model is None and bool(available_models())
    shipped: Dict[Path, Fuser] = {}  # the CLI's model per pair type, loaded once (one serves several types)
    if args.model is not None:
        methods["FusionCINN"] = network_fuser(args.model)
    elif not use_shipped:
        print("note: no trained model found; FusionCINN rows skipped")
    if args.paper_model is not None:
        methods["FusionCINN paper variant"] = network_fuser(args.paper_model)
    for path in args.compare:
        methods[f"FusionCINN {path.name}"] = network_fuser(path)
    methods["average"] = fuse_average
    methods["DWT max-abs (Haar, 3)"] = lambda a, b: fuse_dwt_max_abs(a, b, levels=3)
    methods["Laplacian pyramid (4)"] = lambda a, b: fuse_laplacian_pyramid(a, b, levels=4)

    pairs = sorted({r.pair for r in val.records})
    cases = sorted({f"{r.pair}:{r.case}" for r in val.records})
    print(f"validation cases: {', '.join(cases)} ({len(val.records)} pairs)\n")
    columns = list(METRIC_NAMES) + ["ms"]
    pair_models = [load_model(path) for path in args.pair_model]
    for pair in pairs:
        index = [i for i, r in enumerate(val.records) if r.pair == pair]
        print(f"### {pair.upper()} ({len(index)} pairs)\n")
        chosen = dict(methods)
        if use_shipped:
            folder = default_model_path(pair)
            if folder not in shipped:
                shipped[folder] = network_fuser(folder)
            print(f"FusionCINN: {folder.name}, the model the CLI and the module use for {pair}\n")
            chosen = {"FusionCINN": shipped[folder], **chosen}
        print("| method | " + " | ".join(columns) + " |")
        print("|---|" + "---|" * len(columns))
        own = [m for m in pair_models if m.pair_types == [pair]]
        if own:
            chosen["FusionCINN per pair type"] = net_fuser(own[0].net)
        table: Dict[str, Dict[str, float]] = {}
        for name, method in chosen.items():
            rows: List[Dict[str, float]] = [score(method, val.a[i], val.b[i]) for i in index]
            table[name] = {c: float(np.mean([r[c] for r in rows])) for c in columns}
            print(f"| {name} | " + " | ".join(f"{table[name][c]:.4f}" if c != "ms" else f"{table[name][c]:.1f}"
                                             for c in columns) + " |", flush=True)
        print()
        print_against_baselines(table)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
