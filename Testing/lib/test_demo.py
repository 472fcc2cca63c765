"""The README's first quick-start command, end to end: phantom, registration, fusion, figure."""

import json
import re

import numpy as np
import SimpleITK as sitk

from FusionCINNLib.cli.main import main


LESION_RINGS = {"core": (0, 4), "rim": (6, 8), "shell": (10, 13)}
CALCIFICATION_RINGS = {"core": (0, 1.5), "rim": (2, 3), "shell": (4, 6)}


def lesion_profile(image: sitk.Image, centre_mm: np.ndarray, rings: dict = LESION_RINGS) -> dict:
    """Mean voxel value of ``image`` in each ring {name: (lo, hi) mm} around ``centre_mm`` (LPS mm)."""
    array = sitk.GetArrayFromImage(image).astype(float)
    zyx = np.indices(array.shape).reshape(3, -1)
    spacing, origin = np.array(image.GetSpacing()), np.array(image.GetOrigin())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    points = origin[:, None] + direction @ (spacing[:, None] * zyx[::-1])
    distance = np.linalg.norm(points - centre_mm[:, None], axis=0)
    values = array.reshape(-1)
    return {name: values[(distance >= lo) & (distance < hi)].mean() for name, (lo, hi) in rings.items()}


def test_demo_writes_everything_and_registers_accurately(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    for name in ("fused_ct_mri.nii.gz", "fused_pet_mri.nii.gz", "ct_mri_registration.tfm",
                 "pet_mri_registration.tfm", "figure.png", "phantom/ct.nii.gz", "phantom/phantom.json"):
        assert (out / name).is_file(), name
    errors = [float(v) for v in re.findall(r"(?:mean|max) ([0-9.]+)", printed)]
    assert len(errors) == 4 and max(errors) < 2.0 and errors[0] < 1.0 and errors[2] < 1.0
    fused = sitk.ReadImage(str(out / "fused_ct_mri.nii.gz"))
    ct = sitk.ReadImage(str(out / "phantom" / "ct.nii.gz"))
    assert fused.GetSize() == ct.GetSize() and fused.GetDirection() == ct.GetDirection()
    figure = sitk.ReadImage(str(out / "figure.png"))
    assert figure.GetSize()[1] > figure.GetSize()[0]  # six rows of three views
    assert figure.GetNumberOfComponentsPerPixel() == 3
    pixels = sitk.GetArrayFromImage(figure).astype(int)
    colour_row = pixels[-230:]  # the colour PET-MRI row: colour, not grey
    assert (np.abs(colour_row[..., 0] - colour_row[..., 2]) > 60).mean() > 0.05
    assert (pixels[:20] == 255).all(axis=-1).sum() > 100  # the column titles are drawn in white
    colour = sitk.ReadImage(str(out / "fused_pet_mri_colour.nii.gz"))
    mri = sitk.ReadImage(str(out / "phantom" / "mri.nii.gz"))
    assert colour.GetNumberOfComponentsPerPixel() == 3 and colour.GetSize() == mri.GetSize()
    assert not list(out.rglob("*.partial*"))
    # The findings show in the fused images (docs/findings.md): the PET lesion (darker than its
    # surroundings in the MRI, core/shell 0.77) filled and brighter than the tissue around it, and
    # the CT calcification (a dark spot in the MRI) bright, with the CT's sign. Before the finding
    # transfer: core/rim 0.93 (a ring), and the calcification fused as the MRI's dark spot.
    phantom = json.loads((out / "phantom" / "phantom.json").read_text())
    names = phantom["landmarks"]["names"]
    lesion = np.array(phantom["landmarks"]["points_mm"]["mri"][names.index("lesion")])
    profile = lesion_profile(sitk.ReadImage(str(out / "fused_pet_mri.nii.gz")), lesion)
    assert profile["core"] >= 0.995 * profile["rim"] and profile["core"] >= 1.15 * profile["shell"], profile
    calcification = np.array(phantom["landmarks"]["points_mm"]["ct"][names.index("calcification")])
    profile = lesion_profile(fused, calcification, CALCIFICATION_RINGS)
    assert profile["core"] >= 1.2 * profile["shell"] and profile["core"] >= profile["rim"], profile
    assert (out / "findings.png").is_file()
