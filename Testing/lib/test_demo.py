"""The README's first quick-start command, end to end: phantom, registration, fusion, figure."""

import re

import SimpleITK as sitk

from FusionCINNLib.cli.main import main


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
    assert figure.GetSize()[1] > figure.GetSize()[0]  # five rows of three views
    assert not list(out.rglob("*.partial*"))
