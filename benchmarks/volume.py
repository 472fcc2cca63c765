"""End-to-end fusion of a clinical-size study, stage by stage, in one process.

    .venv/bin/python benchmarks/volume.py [--model PATH] [--device cpu|cuda] [--batch-size N]
                                          [--ct-size 512 512 300] [--mri-size 256 256 180]

Makes (with the phantom generator) a 512x512x300 CT at 0.5x0.5x1 mm and a 256x256x180 MRI at
1 mm, writes them as NIfTI (not timed), then times: read, register, resample, normalise, fuse,
write. Prints seconds per stage, slices per second of the fuse stage, peak RSS from read to write, and the
time of a plain Haar DWT max-abs fusion of the same normalised slices as a reference ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

import numpy as np
import SimpleITK as sitk
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.fusion.allocator import keep_freed_memory  # noqa: E402
from FusionCINNLib.baselines import fuse_dwt_max_abs  # noqa: E402
from FusionCINNLib.fusion.orientation import slice_axis  # noqa: E402
from FusionCINNLib.fusion.pipeline import fuse_volumes, resolve_model  # noqa: E402
from FusionCINNLib.fusion.slices import busy_slices  # noqa: E402
from FusionCINNLib.geometry.resampling import background_value, resample_to_reference  # noqa: E402
from FusionCINNLib.imaging.image_io import read_image, write_image  # noqa: E402
from FusionCINNLib.imaging.intensity import window_for  # noqa: E402
from FusionCINNLib.network import FusionNet, ModelConfig  # noqa: E402
from FusionCINNLib.network.model_files import FusionModel, available_models, default_model_path  # noqa: E402
from FusionCINNLib.phantom import make_head_phantom  # noqa: E402


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def dwt_reference_seconds(ct: sitk.Image, mri: sitk.Image, transform: sitk.Transform) -> Tuple[float, int]:
    """Seconds for a Haar DWT max-abs fusion of the same normalised axial slices, and how many of
    them hold anatomy (the others are air in both inputs, which FusionCINN skips)."""
    moved = resample_to_reference(mri, ct, transform, background_value(mri, "mri"))
    axis = slice_axis(ct, "axial")
    a = np.moveaxis(window_for(sitk.GetArrayViewFromImage(ct), "ct").normalise(sitk.GetArrayViewFromImage(ct)), axis, 0)
    b = np.moveaxis(window_for(sitk.GetArrayViewFromImage(moved), "mri").normalise(
        sitk.GetArrayViewFromImage(moved)), axis, 0)
    start = time.perf_counter()
    for k in range(len(a)):
        fuse_dwt_max_abs(a[k], b[k], levels=3)
    seconds = time.perf_counter() - start
    return seconds, len(busy_slices(a, b))


def write_phantom(folder: str, ct_size: tuple, mri_size: tuple) -> None:
    """Make the phantom and write ct.nii.gz and mri.nii.gz (run in a child process, so its memory
    does not count in this process's peak RSS)."""
    phantom = make_head_phantom(0, ct_size=ct_size, ct_spacing=(0.5, 0.5, 1.0), mri_size=mri_size,
                                mri_spacing=(1.0, 1.0, 1.0))
    sitk.WriteImage(phantom.ct, str(Path(folder) / "ct.nii.gz"))
    sitk.WriteImage(phantom.mri, str(Path(folder) / "mri.nii.gz"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--ct-size", type=int, nargs=3, default=(512, 512, 300))
    parser.add_argument("--mri-size", type=int, nargs=3, default=(256, 256, 180))
    args = parser.parse_args()
    keep_freed_memory()  # as the fusioncinn command does
    if args.model or available_models():
        model = resolve_model(args.model or default_model_path("ct-mri"), "ct-mri")
    else:
        model = FusionModel(FusionNet(ModelConfig()).eval(), ["ct-mri"])
        print("note: no trained model; timing an untrained network of the default architecture")
    device = torch.cuda.get_device_name() if args.device == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {args.device} ({device}), {os.cpu_count()} cores, torch {torch.get_num_threads()} threads, "
          f"model {model.name}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=write_phantom, args=(tmp, tuple(args.ct_size), tuple(args.mri_size)))
        child.start()
        child.join()
        ct_path, mri_path = Path(tmp) / "ct.nii.gz", Path(tmp) / "mri.nii.gz"
        print(f"phantom made and written in {time.perf_counter() - start:.1f} s by a child process (not counted)")

        total = time.perf_counter()
        stages = {}
        start = time.perf_counter()
        ct, mri = read_image(ct_path), read_image(mri_path)
        stages["read"] = time.perf_counter() - start
        result = fuse_volumes(ct, mri, "ct-mri", model, reference="a", device=args.device,
                              batch_size=args.batch_size)
        stages.update({k: v for k, v in result.seconds.items()})
        start = time.perf_counter()
        write_image(result.image, Path(tmp) / "fused.nii.gz")
        stages["write"] = time.perf_counter() - start
        elapsed = time.perf_counter() - total
        study_peak = peak_rss_gb()
        slices = ct.GetSize()[2]
        dwt, busy = dwt_reference_seconds(ct, mri, result.transform)
        outside = result.outside_other
    print(f"CT {args.ct_size} at 0.5x0.5x1 mm, MRI {args.mri_size} at 1 mm")
    print("| stage | seconds |\n|---|---|")
    for name, seconds in stages.items():
        print(f"| {name} | {seconds:.2f} |")
    print(f"| **end to end** | **{elapsed:.2f}** |")
    print(f"fuse stage: {slices / stages['fuse']:.2f} slices/s ({slices} slices of "
          f"{args.ct_size[0]}x{args.ct_size[1]}, {busy} of them not air in both inputs: "
          f"{busy / stages['fuse']:.2f} of those per second)")
    print(f"outside the MRI's field of view (the CT alone, no network): {100 * outside:.1f} % of the CT's voxels")
    print(f"plain DWT max-abs fusion of the same slices: {dwt:.2f} s (FusionCINN fuse stage is "
          f"{stages['fuse'] / dwt:.1f}x that)")
    print(f"peak RSS: {study_peak:.2f} GB (read to write; {peak_rss_gb():.2f} GB with the DWT reference after it)")


if __name__ == "__main__":
    main()
