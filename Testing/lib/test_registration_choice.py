"""--register auto|always|never: two volumes on one grid can still be misaligned; "always" registers them."""

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.fusion.pipeline import fuse_volumes, registration_mode
from FusionCINNLib.geometry.transforms import target_errors
from FusionCINNLib.phantom import make_head_phantom

COARSE = dict(ct_size=(48, 48, 20), ct_spacing=(4.8, 4.8, 8.0), mri_size=(36, 42, 33), mri_spacing=(5.33, 5.33, 5.33),
              pet_size=(30, 30, 18), pet_spacing=(8.0, 8.0, 10.0))
SHIFT = sitk.Euler3DTransform((0.0, 0.0, 0.0), *np.deg2rad([3.0, -2.0, 6.0]), (7.0, -5.0, 6.0))


@pytest.fixture(scope="module")
def same_grid_misaligned():
    """The coarse phantom's CT, and its MRI resampled onto the CT grid after a known rigid move (SHIFT):
    one grid, misaligned anatomy. The truth (CT point -> moved MRI point) is SHIFT's inverse."""
    phantom = make_head_phantom(3, **COARSE, misalignment=False)
    ct, mri = phantom.image("ct"), phantom.image("mri")
    moved = sitk.Resample(mri, ct, SHIFT, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return ct, moved, phantom.landmarks_in("ct")


def test_always_registers_a_misaligned_pair_on_one_grid(same_grid_misaligned, tiny_model):
    ct, moved, landmarks = same_grid_misaligned
    truth = SHIFT.GetInverse()
    before = target_errors(sitk.Euler3DTransform(), truth, landmarks)
    result = fuse_volumes(ct, moved, "ct-mri", tiny_model, register="always", reference="a", device="cpu")
    after = target_errors(result.transform, truth, landmarks)
    assert result.alignment == "registered" and result.registration_metric is not None
    assert before.mean() > 8.0 and after.mean() < 0.25 * before.mean() and after.mean() < 3.0, (before, after)
    assert result.image.GetSize() == ct.GetSize() and result.image.GetOrigin() == ct.GetOrigin()


@pytest.mark.parametrize("choice", ["auto", "never", False])
def test_auto_and_never_do_not_register_a_pair_on_one_grid(same_grid_misaligned, tiny_model, choice):
    ct, moved, _ = same_grid_misaligned
    result = fuse_volumes(ct, moved, "ct-mri", tiny_model, register=choice, reference="a", device="cpu")
    assert result.transform is None and result.registration_metric is None and result.alignment == "same grid"
    assert "register" not in result.seconds


def test_registration_choices_are_checked():
    assert [registration_mode(c) for c in (True, False, "auto", "always", "never")] == [
        "auto", "never", "auto", "always", "never"]
    with pytest.raises(FusionInputError, match="unknown registration choice 'sometimes'"):
        registration_mode("sometimes")


def test_cli_register_choice_is_applied_and_recorded(same_grid_misaligned, tmp_path, tiny_model_dir, capsys):
    import json

    from FusionCINNLib.cli.main import main

    ct, moved, _ = same_grid_misaligned
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(moved, str(tmp_path / "mri.nii.gz"))
    base = ["fuse", str(tmp_path / "ct.nii.gz"), str(tmp_path / "mri.nii.gz"), "--pair", "ct-mri", "--model",
            str(tiny_model_dir), "--device", "cpu", "--reference", "a"]
    for choice, alignment in (("always", "registered"), ("never", "same grid")):
        out = tmp_path / f"{choice}.nii.gz"
        assert main(base + ["-o", str(out), "--register", choice]) == 0
        record = json.loads((tmp_path / f"{choice}.json").read_text())
        assert record["registration"]["choice"] == choice and record["registration"]["alignment"] == alignment
    capsys.readouterr()
    assert main(base + ["-o", str(tmp_path / "x.nii.gz"), "--register", "always", "--no-register"]) == 2
    assert "--no-register contradicts --register always" in capsys.readouterr().err
