"""The digital head phantom: determinism, geometry, contrast, ground truth and files."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.cli.main import main
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.geometry import affine_parts
from FusionCINNLib.phantom import make_head_phantom, write_head_phantom

SMALL = dict(ct_size=(96, 96, 36), ct_spacing=(2.4, 2.4, 4.5), mri_size=(72, 84, 66), mri_spacing=(2.7, 2.7, 2.7),
             pet_size=(48, 48, 32), pet_spacing=(5.0, 5.0, 6.0))


@pytest.fixture(scope="module")
def phantom():
    return make_head_phantom(7, **SMALL)


def _value_at(image, point):
    """Nearest-voxel value at a physical point (LPS mm)."""
    index = image.TransformPhysicalPointToIndex(tuple(float(v) for v in point))
    return float(image[index])


def test_same_seed_same_phantom_other_seed_differs(phantom):
    again = make_head_phantom(7, **SMALL)
    other = make_head_phantom(8, **SMALL)
    for modality in ("ct", "mri", "pet"):
        a = sitk.GetArrayViewFromImage(phantom.image(modality))
        np.testing.assert_array_equal(a, sitk.GetArrayViewFromImage(again.image(modality)))
        assert not np.array_equal(a, sitk.GetArrayViewFromImage(other.image(modality)))
        assert phantom.transforms[modality].GetParameters() == again.transforms[modality].GetParameters()
    np.testing.assert_array_equal(phantom.landmarks, again.landmarks)


def test_each_modality_has_its_own_grid_and_the_mri_is_oblique(phantom):
    assert phantom.ct.GetSize() == SMALL["ct_size"] and phantom.ct.GetSpacing() == SMALL["ct_spacing"]
    assert phantom.mri.GetSize() == SMALL["mri_size"] and phantom.mri.GetSpacing() == SMALL["mri_spacing"]
    assert phantom.pet.GetSize() == SMALL["pet_size"] and phantom.pet.GetSpacing() == SMALL["pet_spacing"]
    assert phantom.ct.GetPixelID() == sitk.sitkInt16 and phantom.pet.GetPixelID() == sitk.sitkFloat32
    direction = np.array(phantom.mri.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction @ direction.T, np.eye(3), atol=1e-12)
    assert np.abs(direction - np.eye(3)).max() > 0.1
    for modality in ("mri", "pet"):
        matrix, offset = affine_parts(phantom.transforms[modality])
        angle = np.degrees(np.arccos((np.trace(matrix) - 1) / 2))
        assert 1.0 < angle < 10.0 and 1.0 < np.linalg.norm(offset) < 12.0


def test_tissue_contrast_matches_each_modality(phantom):
    names = phantom.landmark_names
    ct, mri, pet = (phantom.landmarks_in(m) for m in ("ct", "mri", "pet"))
    calcification, lesion, ventricle = (names.index(n) for n in ("calcification", "lesion", "left_ventricle"))
    assert sitk.GetArrayViewFromImage(phantom.ct).min() <= -990
    assert sitk.GetArrayViewFromImage(phantom.ct).max() > 1000
    assert _value_at(phantom.ct, ct[calcification]) > 300
    assert _value_at(phantom.ct, ct[ventricle]) < 25
    assert _value_at(phantom.mri, mri[ventricle]) < 250
    assert sitk.GetArrayViewFromImage(phantom.pet).min() >= 0
    brain = np.median([_value_at(phantom.pet, p) for p in pet[[names.index(n) for n in names if "brain" in n]]])
    assert _value_at(phantom.pet, pet[lesion]) > 2 * brain


def test_landmarks_lie_inside_every_image(phantom):
    for modality in ("ct", "mri", "pet"):
        image = phantom.image(modality)
        for point in phantom.landmarks_in(modality):
            index = np.array(image.TransformPhysicalPointToContinuousIndex(tuple(point)))
            assert np.all(index >= 0) and np.all(index <= np.array(image.GetSize()) - 1)


def test_ground_truth_composes_the_per_modality_transforms(phantom):
    points = phantom.landmarks_in("mri")
    truth = phantom.ground_truth("mri", "pet")
    mapped = np.array([truth.TransformPoint(tuple(p)) for p in points])
    np.testing.assert_allclose(mapped, phantom.landmarks_in("pet"), atol=1e-9)
    np.testing.assert_allclose(np.array([phantom.ground_truth("ct", "mri").TransformPoint(tuple(p))
                                         for p in phantom.landmarks]), phantom.landmarks_in("mri"), atol=1e-9)
    with pytest.raises(FusionInputError):
        phantom.ground_truth("ct", "spect")


def test_without_misalignment_all_truths_are_identity():
    still = make_head_phantom(0, **SMALL, misalignment=False)
    for modality in ("mri", "pet"):
        np.testing.assert_allclose(still.landmarks_in(modality), still.landmarks, atol=1e-12)


def test_files_and_json_describe_the_phantom(tmp_path):
    paths = write_head_phantom(tmp_path / "new", seed=3, **SMALL)
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["ct.nii.gz", "mri.nii.gz", "pet.nii.gz",
                                                                   "phantom.json"]
    memory = make_head_phantom(3, **SMALL)
    info = json.loads(paths["json"].read_text())
    assert "LPS" in info["convention"] and info["seed"] == 3
    for modality in ("ct", "mri", "pet"):
        image = sitk.ReadImage(str(paths[modality]))
        expected = memory.image(modality)
        assert image.GetSize() == expected.GetSize()
        np.testing.assert_allclose(image.GetDirection(), expected.GetDirection(), atol=1e-6)
        np.testing.assert_allclose(image.GetOrigin(), expected.GetOrigin(), atol=1e-4)
        np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(expected))
        matrix = np.array(info["transforms"][modality]["matrix"])
        offset = np.array(info["transforms"][modality]["offset_mm"])
        np.testing.assert_allclose(memory.landmarks @ matrix.T + offset, memory.landmarks_in(modality), atol=1e-9)
        euler = info["transforms"][modality]["itk_euler3d"]
        rebuilt = sitk.Euler3DTransform(euler["center"], *euler["angles_rad"], euler["translation"])
        np.testing.assert_allclose(np.array(rebuilt.GetMatrix()).reshape(3, 3), matrix, atol=1e-12)
        np.testing.assert_allclose(info["landmarks"]["points_mm"][modality], memory.landmarks_in(modality))
    assert len(info["landmarks"]["names"]) == len(memory.landmarks)


def test_phantom_command_writes_the_files(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "out"), "--seed", "2"]) == 0
    assert (tmp_path / "out" / "phantom.json").is_file() and (tmp_path / "out" / "mri.nii.gz").is_file()
    assert "phantom.json" in capsys.readouterr().out
    assert not list((tmp_path / "out").glob("*.partial*"))


def test_phantom_command_reports_an_unwritable_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["phantom", str(blocker / "out")]) == 1
    assert "cannot create the output folder" in capsys.readouterr().err


def test_oblique_mri_painted_in_boxes_and_slabs_equals_painting_the_whole_grid():
    """The per-structure index boxes and the k slabs must not cut any tissue off."""
    from FusionCINNLib.phantom import anatomy, head_phantom

    head = anatomy.make_anatomy(0)
    to_mri = head_phantom._misalignments(0, True)["mri"]
    direction = (head_phantom._rotation(2, head_phantom.MRI_DIRECTION_DEG[1])
                 @ head_phantom._rotation(0, head_phantom.MRI_DIRECTION_DEG[0]))
    centre = np.array(to_mri.TransformPoint(head_phantom._FOV_CENTRE_MM["mri"]))
    header, size = head_phantom._grid((48, 56, 44), (4.0, 4.0, 4.0), direction, centre)
    mapping = head_phantom._index_to_anatomy(header, to_mri)
    whole = anatomy.paint_slab(head, "mri", mapping, size, (0, size[2]), _boxed=False)
    slabs = np.concatenate([anatomy.paint_slab(head, "mri", mapping, size, (k0, min(size[2], k0 + 13)))
                            for k0 in range(0, size[2], 13)])
    assert np.ptp(whole) > 500
    np.testing.assert_allclose(slabs, whole, atol=1e-4)
