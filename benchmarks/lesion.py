"""How a small focal finding shows in the fused image: a phantom focus, fused by each model.

    .venv/bin/python benchmarks/lesion.py [--focus {pet-lesion,ct-calcification}] MODEL [MODEL ...]

MODEL is a model folder or a training folder (``NAME.training``: its newest checkpoint). The
phantom (seed 0) source (PET, or CT) is resampled onto the MRI grid with the phantom's true
alignment (no registration, so only the network differs between rows), both are normalised with
their modality windows, and the 17 axial slices centred on the focus are fused as a volume's slices are (the
slices within the headroom pedestal's reach across slices fused with them, then cut away). The foci:
- pet-lesion: the hot PET lesion (7 mm sphere, darker than its surroundings in the MRI); rings
  within 4 mm of its centre (core), 6-8 mm (rim), 10-13 mm (shell, cut by the 17 slices);
- ct-calcification: the CT calcification (2.5 mm sphere, 800 HU, dark in the MRI); rings within
  1.5 mm (core), 2-3 mm (rim), 4-6 mm (shell).
Printed per model: the mean fused value (0-1) in each ring, core/rim (1 = a filled focus, below 1
= a ring) and core/shell (the focus's contrast; below 1 = darker than its surroundings, as in the
MRI alone). The inputs' own rows come first.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np
import SimpleITK as sitk
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.fusion.across_slices import reach_in_slices, slice_reaches  # noqa: E402
from FusionCINNLib.fusion.salience import salience_thresholds  # noqa: E402
from FusionCINNLib.fusion.slices import fuse_slices  # noqa: E402
from FusionCINNLib.imaging.intensity import window_for  # noqa: E402
from FusionCINNLib.metrics.findings import distance_map, ring_profile  # noqa: E402
from FusionCINNLib.network.config import ModelConfig  # noqa: E402
from FusionCINNLib.network.fusion_net import FusionNet  # noqa: E402
from FusionCINNLib.network.model_files import load_model  # noqa: E402
from FusionCINNLib.phantom import make_head_phantom  # noqa: E402
from FusionCINNLib.phantom.aligned import aligned_pair  # noqa: E402
from FusionCINNLib.training.checkpoint import load_checkpoint  # noqa: E402

HALF_SLICES = 8
FOCI = {
    # focus: (source modality, landmark index (calcification, lesion, ...), rings in mm)
    "pet-lesion": ("pet", 1, {"core": (0.0, 4.0), "rim": (6.0, 8.0), "shell": (10.0, 13.0)}),
    "ct-calcification": ("ct", 0, {"core": (0.0, 1.5), "rim": (2.0, 3.0), "shell": (4.0, 6.0)}),
}


@dataclass
class LesionStacks:
    """The slab around a focus, on the MRI grid: ``a`` (the source) and ``b`` (the MRI), normalised, (n, H, W),
    with the slices within the pedestal's reach on either side of the 17 scored ones (``scored``), the stack's
    (slice, row, column) ``spacing`` in mm, the ``distance`` in mm from the focus centre of the scored slices
    (17, H, W), and the finding transfer's ``salience`` thresholds for the source's window."""

    a: np.ndarray
    b: np.ndarray
    scored: slice
    spacing: Tuple[float, float, float]
    distance: np.ndarray
    salience: torch.Tensor


def lesion_stacks(focus: str = "pet-lesion") -> LesionStacks:
    """The phantom's slab around ``focus`` (a key of FOCI)."""
    modality, landmark, _ = FOCI[focus]
    phantom = make_head_phantom(0)
    data = aligned_pair(phantom, modality)
    k, j, i = (int(v) for v in data.landmarks[landmark])
    reach = reach_in_slices(slice_reaches(data.spacing))
    low, high = max(0, k - HALF_SLICES - reach), min(data.mri.shape[0], k + HALF_SLICES + 1 + reach)
    window = window_for(sitk.GetArrayViewFromImage(phantom.image(modality)), modality)  # the source's own grid
    a = window.normalise(data.source[low:high])
    b = window_for(data.mri, "mri").normalise(data.mri)[low:high]
    scored = slice(k - HALF_SLICES - low, k + HALF_SLICES + 1 - low)
    distance = distance_map((2 * HALF_SLICES + 1,) + a.shape[1:], (HALF_SLICES, j, i), data.spacing)
    return LesionStacks(a, b, scored, tuple(data.spacing), distance, salience_thresholds(window))


def network(path: Path) -> torch.nn.Module:
    """The network of a model folder, or of the newest checkpoint of a training folder."""
    if path.name.endswith(".training"):
        state, _ = load_checkpoint(path)
        net = FusionNet(ModelConfig.from_dict(state["config"]["architecture"]))
        net.load_state_dict(state["model"])
        return net.eval()
    return load_model(path).net


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--focus", choices=sorted(FOCI), default="pet-lesion")
    args = parser.parse_args()
    slab = lesion_stacks(args.focus)
    a, b, distance = slab.a[slab.scored], slab.b[slab.scored], slab.distance
    source = FOCI[args.focus][0].upper()
    rows = {f"{source} alone": a, "MRI alone": b, f"max({source}, MRI)": np.maximum(a, b)}
    for path in args.models:
        fused = fuse_slices(network(path), slab.a, slab.b, device="cpu", salience=slab.salience, spacing=slab.spacing)
        rows[str(path)] = fused[slab.scored]
    print("| input / model | core | rim | shell | core/rim | core/shell |")
    print("|---|---|---|---|---|---|")
    for name, values in rows.items():
        p = ring_profile(values, distance, FOCI[args.focus][2])
        print(f"| {name} | " + " | ".join(f"{p[k]:.3f}" for k in ("core", "rim", "shell", "core/rim", "core/shell"))
              + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
