"""Where a CT-MRI fusion loses Qabf: each source's edge preservation, by region of the CT.

    .venv/bin/python benchmarks/qabf_regions.py [MODEL ...] [--every N] [--data DIR]

On every N-th CT-MRI validation pair (the split of ``fusioncinn train``, seed 0), Qabf is split
into its two sources, Q_AF (the CT's edges kept) and Q_BF (the MRI's), each as the edge-strength
weighted mean of Q^{SF} over three regions: bright CT (> 0.5 of the window: bone, where the CT
is often saturated), dark CT with a brighter MRI, and dark CT with a darker MRI. w = the region's
share of all edge weight of that source. Rows: the Laplacian pyramid (4 levels) and each model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quality import ATLAS, Fuser, network_fuser, validation_arrays  # noqa: E402

from FusionCINNLib.baselines import fuse_laplacian_pyramid  # noqa: E402
from FusionCINNLib.metrics.edge_transfer import _preservation, _strength_orientation  # noqa: E402

REGIONS: Dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "bright CT": lambda a, b: a > 127,
    "dark CT, brighter MRI": lambda a, b: (a <= 127) & (b > a),
    "dark CT, darker MRI": lambda a, b: (a <= 127) & (b <= a),
}


def region_scores(method: Fuser, pairs) -> Dict[str, Dict[str, float]]:
    """Per region: Q_AF, Q_BF and each source's share of edge weight there, over ``pairs`` of [0, 1] images."""
    sums = {name: np.zeros(4) for name in REGIONS}
    for a, b in pairs:
        fused, a8, b8 = np.round(method(a, b) * 255), np.round(a * 255), np.round(b * 255)
        g_f, o_f = _strength_orientation(fused)
        g_a, o_a = _strength_orientation(a8)
        g_b, o_b = _strength_orientation(b8)
        q_a, q_b = _preservation(g_a, o_a, g_f, o_f) * g_a, _preservation(g_b, o_b, g_f, o_f) * g_b
        for name, region in REGIONS.items():
            mask = region(a8, b8)
            sums[name] += [q_a[mask].sum(), g_a[mask].sum(), q_b[mask].sum(), g_b[mask].sum()]
    total_a = sum(s[1] for s in sums.values())
    total_b = sum(s[3] for s in sums.values())
    return {name: {"Q_AF": s[0] / max(s[1], 1e-12), "w_A": s[1] / total_a,
                   "Q_BF": s[2] / max(s[3], 1e-12), "w_B": s[3] / total_b} for name, s in sums.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="*")
    parser.add_argument("--every", type=int, default=3, help="use every N-th CT-MRI validation pair")
    parser.add_argument("--data", type=Path, default=ATLAS)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: atlas data not found at {args.data}")
        return 0
    torch.set_grad_enabled(False)
    val = validation_arrays(args.data, "ct-mri")
    pairs = list(zip(val.a[::args.every], val.b[::args.every]))
    methods: Dict[str, Fuser] = {"Laplacian pyramid (4)": lambda a, b: fuse_laplacian_pyramid(a, b, levels=4)}
    methods.update({str(path): network_fuser(path) for path in args.models})
    print(f"{len(pairs)} CT-MRI validation pairs\n")
    print("| method | " + " | ".join(f"{name}: Q_AF (w_A) | Q_BF (w_B)" for name in REGIONS) + " |")
    print("|---|" + "---|---|" * len(REGIONS))
    for name, method in methods.items():
        scores = region_scores(method, pairs)
        cells = [f"{s['Q_AF']:.3f} ({s['w_A']:.2f}) | {s['Q_BF']:.3f} ({s['w_B']:.2f})" for s in scores.values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
