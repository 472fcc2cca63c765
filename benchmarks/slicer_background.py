"""The Slicer module's background fusion against the in-process run, on the head phantom with real MRML
nodes (slicer-core): seconds for each, the overhead of the background process (start-up with the torch
import, handing the inputs over as files, loading the result), and whether the voxels are equal.

    PYTHONPATH=. python benchmarks/slicer_background.py [--size small|full] [--model DIR] [--repeats N]

Without --model the shipped CT-MRI model is used. Registration is off (the CT is fused on its own grid
with an MRI resampled to it first), so that equal voxels are expected bit for bit; with registration
on, ITK's threaded metric makes even two in-process runs differ by about 1e-6 mm.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "FusionCINN"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import SimpleITK as sitk
    import slicer
    from FusionCINNLogic import FusionCINNLogic, geometry
    from FusionCINNLogic.selftest import SMALL_PHANTOM, makeHeadPhantom

    if args.size == "small":
        phantom = makeHeadPhantom(0, **SMALL_PHANTOM)
    else:
        from FusionCINNLib.phantom.head_phantom import make_head_phantom

        phantom = make_head_phantom(0)
    mri_on_ct = sitk.Resample(phantom.mri, phantom.ct, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    ct = geometry.addVolumeNodeFromImage(scene, phantom.ct, "CT")
    mri = geometry.addVolumeNodeFromImage(scene, mri_on_ct, "MRI")
    logic = FusionCINNLogic(userModelsDir=Path(tempfile.mkdtemp()))
    options = {"register": False, "device": "cpu"}
    logic.fuse(ct, mri, "ct-mri", register=False, device="cpu", model=args.model)  # warm the model cache
    print(f"phantom CT grid {phantom.ct.GetSize()}, model {args.model or 'shipped ct-mri'}, CPU, no registration")
    for repeat in range(args.repeats):
        started = time.perf_counter()
        inside = logic.fuse(ct, mri, "ct-mri", register=False, device="cpu", model=args.model)
        in_process = time.perf_counter() - started
        started = time.perf_counter()
        job = logic.startFusion(ct, mri, "ct-mri", model=args.model, options=options, waitForCompletion=True)
        background = time.perf_counter() - started
        equal = np.array_equal(slicer.util.arrayFromVolume(inside), slicer.util.arrayFromVolume(job.outputNode))
        print(f"run {repeat + 1}: in-process {in_process:.2f} s (model cached), background {background:.2f} s, "
              f"overhead {background - in_process:.2f} s, voxels equal: {equal}")


if __name__ == "__main__":
    main()
