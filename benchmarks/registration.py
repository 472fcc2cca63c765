"""Registration benchmark: target registration error (TRE) and time per registration.

1. Digital head phantom (``FusionCINNLib.phantom``): CT-MRI and MRI-PET, each side as the
   reference, over several seeds. TRE is measured on the phantom's landmarks (mm, in the
   reference's physical space) against the known ground-truth transform.
2. Large volumes: a 512x512x300 CT (0.5x0.5x1 mm) with a 256x256x180 MRI (1 mm): time and TRE.
3. Atlas pairs (../shared/data/aanlib, 2D PNG, already registered by the atlas authors): the
   benchmark rotates and shifts the moving picture by a known rigid transform and measures the
   TRE on points of the reference's foreground (pixels; the atlas has no physical spacing).
   Skipped with a printed reason when the folder is absent.

Run: ``.venv/bin/python benchmarks/registration.py [--seeds N] [--atlas-pairs N] [--no-large]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from FusionCINNLib.geometry import register_volumes, resample_to_reference, target_errors  # noqa: E402
from FusionCINNLib.phantom import make_head_phantom  # noqa: E402

ATLAS = REPO.parent / "shared" / "data" / "aanlib"
ATLAS_TYPES = {"CT-MRI": "ct", "PET-MRI": "pet", "SPECT-MRI": "spect"}
PHANTOM_PAIRS = (("ct", "mri"), ("mri", "ct"), ("mri", "pet"), ("pet", "mri"))

Row = Tuple[Any, ...]
"""(pair, reference, runs, TRE mean, TRE median, TRE max, seconds[, TRE mean vs unmoved, TRE max vs unmoved]).

TRE mean and max are over all points of all runs; the median is that of the runs' mean TREs."""


def phantom_rows(seeds: int) -> List[Row]:
    """(pair, reference, runs, mean TRE, max TRE, mean seconds) on default-size phantoms."""
    results: Dict[Tuple[str, str], List[Tuple[float, float, float]]] = {}
    for seed in range(seeds):
        phantom = make_head_phantom(seed)
        for reference, moving in PHANTOM_PAIRS:
            result = register_volumes(phantom.image(reference), phantom.image(moving),
                                      reference_modality=reference, moving_modality=moving)
            errors = target_errors(result.transform, phantom.ground_truth(reference, moving),
                                   phantom.landmarks_in(reference))
            results.setdefault((reference, moving), []).append((errors.mean(), errors.max(), result.seconds))
    rows = []
    for (reference, moving), values in results.items():
        v = np.array(values)
        pair = "CT-MRI" if "ct" in (reference, moving) else "MRI-PET"
        rows.append((f"phantom {pair}", reference.upper(), len(v), v[:, 0].mean(), np.median(v[:, 0]), v[:, 1].max(),
                     v[:, 2].mean()))
    return rows


def large_rows() -> Tuple[List[Row], float]:
    """CT 512x512x300 at 0.5x0.5x1 mm with MRI 256x256x180 at 1 mm; also returns the phantom time (s)."""
    phantom = make_head_phantom(0, ct_size=(512, 512, 300), ct_spacing=(0.5, 0.5, 1.0),
                                mri_size=(256, 256, 180), mri_spacing=(1.0, 1.0, 1.0))
    rows = []
    for reference, moving in (("ct", "mri"), ("mri", "ct")):
        result = register_volumes(phantom.image(reference), phantom.image(moving),
                                  reference_modality=reference, moving_modality=moving)
        errors = target_errors(result.transform, phantom.ground_truth(reference, moving),
                               phantom.landmarks_in(reference))
        rows.append(("large CT-MRI", reference.upper(), 1, errors.mean(), errors.mean(), errors.max(),
                     result.seconds))
    return rows, phantom.seconds


def _known_transform(rng: np.random.Generator, image: sitk.Image) -> sitk.Euler2DTransform:
    """A rigid 2D transform of 3-8 degrees and 3-8 pixels along each axis (random signs) about the centre."""
    centre = image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in image.GetSize()])
    angle = np.deg2rad(rng.uniform(3.0, 8.0)) * rng.choice([-1.0, 1.0])
    shift = rng.uniform(3.0, 8.0, 2) * rng.choice([-1.0, 1.0], 2)
    return sitk.Euler2DTransform(centre, float(angle), tuple(float(s) for s in shift))


def _foreground_points(image: sitk.Image, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` physical points (N, 2) drawn from pixels above 20 % of the maximum luminance."""
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    if array.ndim == 3:
        array = array.mean(axis=-1)
    rows, cols = np.nonzero(array > 0.2 * array.max())
    pick = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    return np.array([image.TransformIndexToPhysicalPoint((int(cols[k]), int(rows[k]))) for k in pick])


def atlas_rows(per_type: int) -> List[Row]:
    """Known-transform recovery on atlas pairs, each side (MRI or the other modality) as reference.

    Two errors per pair: against the atlas alignment moved by the known transform (what the
    benchmark reports as TRE), and against the registration of the unmoved pair moved by the same
    transform ("vs unmoved"), which removes the part where mutual information and the atlas authors'
    alignment disagree.
    """
    rows = []
    rng = np.random.default_rng(0)
    for folder, modality in ATLAS_TYPES.items():
        names = sorted(p.name for p in (ATLAS / folder / "a").glob("*.png"))
        names = [names[int(k)] for k in np.linspace(0, len(names) - 1, min(per_type, len(names)))]
        for reference_side in ("b", "a"):
            values = []
            for name in names:
                a = sitk.ReadImage(str(ATLAS / folder / "a" / name))
                b = sitk.ReadImage(str(ATLAS / folder / "b" / name))
                reference, moving = (b, a) if reference_side == "b" else (a, b)
                modalities = dict(reference_modality="mri", moving_modality=modality)
                if reference_side == "a":
                    modalities = dict(reference_modality=modality, moving_modality="mri")
                truth = _known_transform(rng, reference)
                moved = resample_to_reference(moving, moving, truth.GetInverse())
                result = register_volumes(reference, moved, **modalities)
                unmoved = register_volumes(reference, moving, **modalities).transform
                points = _foreground_points(reference, 50, rng)
                errors = target_errors(result.transform, truth, points)
                expected = sitk.CompositeTransform([truth, unmoved])
                consistency = target_errors(result.transform, expected, points)
                values.append((errors.mean(), errors.max(), result.seconds, consistency.mean(), consistency.max()))
            v = np.array(values)
            rows.append((f"atlas {folder} (px)", modalities["reference_modality"].upper(), len(v), v[:, 0].mean(),
                         np.median(v[:, 0]), v[:, 1].max(), v[:, 2].mean(), v[:, 3].mean(), v[:, 4].max()))
    return rows


def print_table(rows: List[Row]) -> None:
    """Print the rows as a fixed-width table."""
    print(f"{'pair':<24} {'reference':<9} {'runs':>4} {'TRE mean':>9} {'median':>7} {'max':>7} {'s/reg':>6}"
          f"  {'vs unmoved: mean':>16} {'max':>7}")
    for pair, reference, runs, mean, median, worst, seconds, *unmoved in rows:
        extra = f"  {unmoved[0]:>16.3f} {unmoved[1]:>7.3f}" if unmoved else ""
        print(f"{pair:<24} {reference:<9} {runs:>4} {mean:>9.3f} {median:>7.3f} {worst:>7.3f} {seconds:>6.2f}{extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="phantom seeds (default 3)")
    parser.add_argument("--atlas-pairs", type=int, default=8, help="atlas pairs per pair type (default 8)")
    parser.add_argument("--no-large", action="store_true", help="skip the 512x512x300 CT case")
    args = parser.parse_args()
    print(f"SimpleITK {sitk.Version.VersionString()}, {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()} threads")

    start = time.perf_counter()
    default = make_head_phantom(0)
    print(f"phantom generation, default sizes: {default.seconds:.2f} s")
    rows = phantom_rows(args.seeds)
    if not args.no_large:
        large, seconds = large_rows()
        print(f"phantom generation, CT 512x512x300 + MRI 256x256x180: {seconds:.2f} s")
        rows += large
    if ATLAS.is_dir():
        rows += atlas_rows(args.atlas_pairs)
    else:
        print(f"atlas pairs skipped: {ATLAS} not found (../shared/data/aanlib is only on development machines)")
    print("TRE in mm (phantom) or pixels (atlas); s/reg = seconds per registration")
    print_table(rows)
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
