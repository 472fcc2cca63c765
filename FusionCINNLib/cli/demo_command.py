"""``fusioncinn demo``: the main job on built-in data. Makes the head phantom, registers and fuses
CT-MRI and PET-MRI (grey, and in colour through Slicer's PET-Rainbow2 map) with the shipped models, writes the
fused volumes, the transforms and two labelled figures, and reports the registration error against the
phantom's ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Optional

from ..choices import DEVICES
from ..progress import ConsoleProgressBar

# NumPy, SimpleITK and torch are imported inside the functions that use them, so that --help and a bad
# argument are answered before they load.

ROWS = ("CT", "MRI", "PET", "fused CT-MRI (CT grid)", "fused PET-MRI (MRI grid)",
        "fused PET-MRI, colour: PET-Rainbow2 (MRI grid)")
FOCUS_COLUMNS = ("source", "MRI", "fused", "fused, colour")
FOCUS_ROWS = ("PET lesion: PET, MRI, fused PET-MRI", "CT calcification: CT, MRI, fused CT-MRI")
COLOUR_MAP = "rainbow"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline on the built-in head phantom",
                                   description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("fusioncinn-demo"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.set_defaults(func=run)


def _fuse(label: str, a_path: Path, b_path: Path, pair: str, reference: str, out: Path, device: str,
          colour: Optional[str] = None):
    from ..fusion.pipeline import fuse_volumes
    from ..geometry.transforms import save_transform
    from ..imaging.image_io import read_image, write_image
    from ..imaging.rgb_volume_io import write_rgb_volume

    bar = ConsoleProgressBar(f"fusing {label}")
    try:
        result = fuse_volumes(read_image(a_path), read_image(b_path), pair, register=True, reference=reference,
                              device=device, progress=bar, name_a=str(a_path), name_b=str(b_path), colour=colour)
    finally:
        bar.close()
    write_image(result.image, out / f"fused_{pair.replace('-', '_')}.nii.gz")
    if result.colour_image is not None:
        write_rgb_volume(result.colour_image, out / f"fused_{pair.replace('-', '_')}_colour.nii.gz")
    save_transform(result.transform, out / f"{pair.replace('-', '_')}_registration.tfm")
    return result


def _hottest_point(image) -> tuple:
    """Physical point (LPS mm) of the brightest voxel: in the phantom's PET, the hot lesion."""
    import numpy as np
    import SimpleITK as sitk

    values = sitk.GetArrayViewFromImage(image)
    k, j, i = np.unravel_index(int(np.argmax(values)), values.shape)
    return image.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import SimpleITK as sitk

    from ..geometry.transforms import target_errors
    from ..imaging.figure import write_focus_figure, write_orthogonal_figure
    from ..imaging.image_io import read_image
    from ..phantom import make_head_phantom, save_head_phantom

    start = time.perf_counter()
    out: Path = args.out
    print(f"1/4 making the head phantom (seed {args.seed}) in {out / 'phantom'}")
    truth = make_head_phantom(args.seed)
    paths = save_head_phantom(truth, out / "phantom")
    print("2/4 registering the MRI to the CT and fusing CT-MRI on the CT grid")
    ct_mri = _fuse("CT-MRI", paths["ct"], paths["mri"], "ct-mri", "a", out, args.device)
    print("3/4 registering the PET to the MRI and fusing PET-MRI on the MRI grid")
    pet_mri = _fuse("PET-MRI", paths["pet"], paths["mri"], "pet-mri", "b", out, args.device, COLOUR_MAP)
    print("4/4 writing the figures")
    ct, mri, pet = (read_image(paths[modality]) for modality in ("ct", "mri", "pet"))
    fused_ct, fused_pet = (read_image(out / name) for name in ("fused_ct_mri.nii.gz", "fused_pet_mri.nii.gz"))
    lesion_pet = _hottest_point(pet)
    lesion_mri = pet_mri.transform.GetInverse().TransformPoint(lesion_pet)
    lesion_ct = ct_mri.transform.GetInverse().TransformPoint(lesion_mri)
    figure = out / "figure.png"
    colour = pet_mri.colour_image
    write_orthogonal_figure([ct, mri, pet, fused_ct, fused_pet, colour], figure,
                            centres=[lesion_ct, lesion_mri, lesion_pet, lesion_ct, lesion_mri, lesion_mri],
                            row_titles=ROWS, mark_centres=True)
    calcification_ct = truth.landmarks_in("ct")[truth.landmark_names.index("calcification")]
    calcification_mri = ct_mri.transform.TransformPoint(tuple(float(v) for v in calcification_ct))
    no_colour = sitk.Image(colour.GetSize(), sitk.sitkVectorUInt8, 3)
    no_colour.CopyInformation(colour)
    write_focus_figure([[pet, mri, fused_pet, colour], [ct, mri, fused_ct, no_colour]],
                       [[lesion_pet, lesion_mri, lesion_mri, lesion_mri],
                        [calcification_ct, calcification_mri, calcification_ct, calcification_mri]],
                       out / "findings.png", row_titles=FOCUS_ROWS, column_titles=FOCUS_COLUMNS, mark_centres=True)
    tre_ct = target_errors(ct_mri.transform, truth.ground_truth("ct", "mri"), truth.landmarks_in("ct"))
    tre_pet = target_errors(pet_mri.transform, truth.ground_truth("mri", "pet"), truth.landmarks_in("mri"))
    print(f"\nregistration error on the phantom's {len(tre_ct)} landmarks (mm): "
          f"CT-MRI mean {np.mean(tre_ct):.2f} max {np.max(tre_ct):.2f}; "
          f"PET-MRI mean {np.mean(tre_pet):.2f} max {np.max(tre_pet):.2f}")
    print(f"done in {time.perf_counter() - start:.0f} s. Results in {out}:")
    for name in ("fused_ct_mri.nii.gz", "fused_pet_mri.nii.gz", "fused_pet_mri_colour.nii.gz",
                 "ct_mri_registration.tfm", "pet_mri_registration.tfm", "figure.png", "findings.png"):
        print(f"  {out / name}")
    print(f"  {out / 'phantom'} (the inputs: ct.nii.gz, mri.nii.gz, pet.nii.gz, phantom.json)")
    print("figure rows: " + " | ".join(ROWS) + "; columns: axial, coronal, sagittal, all through the PET lesion "
          "(marked by ticks at the panel edges)")
    print("findings rows (axial, 48 mm wide, each volume's whole window, finding at the ticks): "
          + "; ".join(FOCUS_ROWS) + "; columns: " + " | ".join(FOCUS_COLUMNS) + " (CT is not shown in colour)")
    return 0
