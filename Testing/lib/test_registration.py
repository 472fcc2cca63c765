"""Registration on the digital head phantom: known-transform recovery, TRE, geometry, inputs, progress."""

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.errors import FusionCancelled, FusionInputError
from FusionCINNLib.geometry import (align_to_reference, load_transform, register_volumes, rigid_error, same_grid,
                                    save_transform, target_errors)
from FusionCINNLib.phantom import make_head_phantom

SMALL = dict(ct_size=(128, 128, 80), ct_spacing=(1.8, 1.8, 2.0), mri_size=(96, 112, 88), mri_spacing=(2.0, 2.0, 2.0),
             pet_size=(84, 84, 60), pet_spacing=(3.0, 3.0, 3.2))
KNOWN = sitk.Euler3DTransform((0.0, 0.0, 0.0), *np.deg2rad([4.0, -3.0, 5.0]), (4.0, -3.0, 5.0))
"""The known misalignment: 4, -3, 5 degrees about L, P, S and (4, -3, 5) mm."""


@pytest.fixture(scope="module")
def aligned():
    """A small phantom whose modalities share the anatomy frame exactly (no misalignment)."""
    return make_head_phantom(11, **SMALL, misalignment=False)


@pytest.fixture(scope="module")
def misaligned():
    """A small phantom with its own seeded misalignment of a few degrees and millimetres."""
    return make_head_phantom(5, **SMALL)


def moved(image: sitk.Image, transform: sitk.Euler3DTransform) -> sitk.Image:
    """``image`` with the same voxels placed at ``transform(p)`` instead of ``p`` (no interpolation)."""
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)
    out = sitk.Image(image)
    out.SetDirection(tuple((matrix @ np.array(image.GetDirection()).reshape(3, 3)).ravel()))
    out.SetOrigin(transform.TransformPoint(image.GetOrigin()))
    return out


@pytest.mark.parametrize("reference,moving", [("ct", "mri"), ("mri", "ct"), ("mri", "pet"), ("pet", "mri")])
def test_a_known_misalignment_is_recovered_and_resampled_onto_the_reference_grid(aligned, reference, moving):
    fixed = aligned.image(reference)
    source = moved(aligned.image(moving), KNOWN)
    result = register_volumes(fixed, source, reference_modality=reference, moving_modality=moving)
    centre = aligned.landmarks.mean(axis=0)
    rotation, translation = rigid_error(result.transform, KNOWN, centre)
    assert rotation < 0.5, f"rotation error {rotation:.3f} degrees"
    assert translation < 0.5, f"translation error {translation:.3f} mm"
    assert result.iterations > 0 and result.seconds > 0 and result.metric_value < 0
    out = sitk.Resample(source, fixed, result.transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    assert same_grid(out, fixed, tol=1e-6)
    assert out.GetDirection() == fixed.GetDirection() and out.GetOrigin() == fixed.GetOrigin()


@pytest.mark.parametrize("reference,moving", [("ct", "mri"), ("pet", "mri")])
def test_landmark_error_on_the_misaligned_phantom(misaligned, reference, moving):
    result = register_volumes(misaligned.image(reference), misaligned.image(moving),
                              reference_modality=reference, moving_modality=moving)
    errors = target_errors(result.transform, misaligned.ground_truth(reference, moving),
                           misaligned.landmarks_in(reference))
    assert errors.mean() < 1.0 and errors.max() < 2.0, f"TRE mean {errors.mean():.3f}, max {errors.max():.3f} mm"


def test_aligned_output_is_on_the_oblique_reference_grid_with_background_outside(misaligned, tmp_path):
    image, result = align_to_reference(misaligned.mri, misaligned.ct, reference_modality="mri",
                                       moving_modality="ct", initialisation="moments")
    assert np.abs(np.array(misaligned.mri.GetDirection()).reshape(3, 3) - np.eye(3)).max() > 0.1
    assert same_grid(image, misaligned.mri, tol=1e-6) and image.GetPixelID() == sitk.sitkFloat32
    assert np.count_nonzero(sitk.GetArrayViewFromImage(image) == -1000.0) > 1000  # outside the CT's field of view
    errors = target_errors(result.transform, misaligned.ground_truth("mri", "ct"), misaligned.landmarks_in("mri"))
    assert errors.mean() < 1.0
    save_transform(result.transform, tmp_path / "mri_to_ct.tfm")
    loaded = load_transform(tmp_path / "mri_to_ct.tfm")
    for point in misaligned.landmarks_in("mri"):
        np.testing.assert_allclose(loaded.TransformPoint(tuple(point)), result.transform.TransformPoint(tuple(point)),
                                   atol=1e-9)


def test_affine_stage_returns_an_affine_transform_as_accurate_as_rigid(misaligned):
    result = register_volumes(misaligned.pet, misaligned.mri, reference_modality="pet", moving_modality="mri",
                              affine=True)
    assert result.transform.GetName() == "AffineTransform"
    errors = target_errors(result.transform, misaligned.ground_truth("pet", "mri"), misaligned.landmarks_in("pet"))
    assert errors.mean() < 1.0 and errors.max() < 2.0


def _slices(phantom):
    """Aligned 2D CT and MRI slices (LPS mm geometry) through the ventricles."""
    mri_on_ct = sitk.Resample(phantom.mri, phantom.ct, sitk.Transform(), sitk.sitkLinear, 0.0)
    k = phantom.ct.TransformPhysicalPointToIndex(tuple(phantom.landmarks[phantom.landmark_names.index(
        "left_ventricle")]))[2]
    return phantom.ct[:, :, k], mri_on_ct[:, :, k]


def test_2d_registration_recovers_a_known_rigid_transform_with_rgb_and_integer_inputs(aligned):
    ct, mri = _slices(aligned)
    grey = sitk.Cast(sitk.RescaleIntensity(mri, 0, 255), sitk.sitkUInt8)
    rgb = sitk.Compose([grey, grey, grey])
    truth = sitk.Euler2DTransform((0.0, 0.0), float(np.deg2rad(-6.0)), (5.0, -3.0))
    matrix = np.array(truth.GetMatrix()).reshape(2, 2)
    rgb.SetDirection(tuple((matrix @ np.array(rgb.GetDirection()).reshape(2, 2)).ravel()))
    rgb.SetOrigin(truth.TransformPoint(rgb.GetOrigin()))
    result = register_volumes(ct, rgb, reference_modality="ct", moving_modality="mri")
    assert result.transform.GetName() == "Euler2DTransform"
    rotation, translation = rigid_error(result.transform, truth, (0.0, 0.0))
    assert rotation < 0.5 and translation < 0.5, f"{rotation:.3f} degrees, {translation:.3f} mm"


def test_registration_is_reproducible(aligned):
    ct, mri = _slices(aligned)
    first = register_volumes(mri, ct, reference_modality="mri", moving_modality="ct")
    second = register_volumes(mri, ct, reference_modality="mri", moving_modality="ct")
    # Same sample points every run; only the threads' summation order may differ.
    np.testing.assert_allclose(first.transform.GetParameters(), second.transform.GetParameters(), atol=1e-6)
    assert first.metric_value == pytest.approx(second.metric_value, abs=1e-9)


def test_progress_rises_to_one_and_cancel_stops_the_registration(aligned):
    ct, mri = _slices(aligned)
    fractions = []
    register_volumes(ct, mri, reference_modality="ct", moving_modality="mri",
                     progress=lambda fraction, message: fractions.append(fraction))
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(fractions) > 5
    assert all(b >= a for a, b in zip(fractions, fractions[1:]))
    calls = []
    with pytest.raises(FusionCancelled):
        register_volumes(ct, mri, reference_modality="ct", moving_modality="mri",
                         cancel=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4


def test_bad_inputs_raise_one_line_input_errors(aligned):
    volume = aligned.ct
    picture = volume[:, :, 10]
    constant = sitk.Image(volume.GetSize(), sitk.sitkFloat32) + 5.0
    thin = sitk.Image([64, 64, 1], sitk.sitkFloat32)
    holes = sitk.Cast(aligned.mri, sitk.sitkFloat32)
    holes[10, 10, 10] = float("nan")
    cases = [
        ((volume, picture, "ct", "mri"), "2D image to a 3D"),
        ((volume, constant, "ct", "mri"), "no contrast"),
        ((volume, holes, "ct", "mri"), "NaN"),
        ((volume, thin, "ct", "mri"), "only 1 voxel"),
        ((volume, sitk.Image([0, 0, 0], sitk.sitkFloat32), "ct", "mri"), "empty"),
        ((volume, aligned.mri, "ct", "xray"), "unknown modality"),
        ((volume, "mri.nii", "ct", "mri"), "SimpleITK image"),
    ]
    for (reference, moving, reference_modality, moving_modality), message in cases:
        with pytest.raises(FusionInputError, match=message) as err:
            register_volumes(reference, moving, reference_modality=reference_modality,
                             moving_modality=moving_modality)
        assert "\n" not in str(err.value)
    with pytest.raises(FusionInputError, match="unknown initialisation"):
        register_volumes(volume, aligned.mri, reference_modality="ct", moving_modality="mri", initialisation="nearest")


def _crop(image: sitk.Image, size_mm, where: str) -> sitk.Image:
    """A box of ``size_mm`` (i, j, k) cut from ``image`` at one side ("right", "left", "top", "bottom") or the
    centre; the crop keeps its physical position (its header coordinates are right)."""
    size = [min(n, int(round(mm / s))) for n, mm, s in zip(image.GetSize(), size_mm, image.GetSpacing())]
    start = [(n - m) // 2 for n, m in zip(image.GetSize(), size)]
    margin = 3
    if where in ("right", "left"):
        start[0] = margin if where == "right" else image.GetSize()[0] - size[0] - margin
    elif where in ("bottom", "top"):
        start[2] = margin if where == "bottom" else image.GetSize()[2] - size[2] - margin
    return sitk.RegionOfInterest(image, size, start)


def _box_points(image: sitk.Image) -> np.ndarray:
    """The 8 points at 20 % and 80 % of the image's extent along each axis (LPS mm)."""
    grid = np.stack(np.meshgrid([0.2, 0.8], [0.2, 0.8], [0.2, 0.8]), -1).reshape(-1, 3)
    return np.array([image.TransformContinuousIndexToPhysicalPoint([f * (n - 1) for f, n in zip(fractions,
                                                                                                image.GetSize())])
                     for fractions in grid])


@pytest.mark.parametrize("side", ["right", "left"])
def test_an_off_centre_ct_field_of_view_stays_where_its_header_puts_it(misaligned, side):
    """A 99x99x60 mm CT of one side of the head against the whole-head MRI: matching grid centres put it
    about 120 mm off; starting from the header's coordinates keeps it within a few mm."""
    crop = _crop(misaligned.ct, (99.0, 99.0, 60.0), side)
    result = register_volumes(crop, misaligned.mri, reference_modality="ct", moving_modality="mri")
    errors = target_errors(result.transform, misaligned.ground_truth("ct", "mri"), _box_points(crop))
    assert errors.mean() < 8.0, f"TRE {errors.mean():.1f} mm"


def test_images_that_do_not_overlap_in_physical_space_are_refused(misaligned):
    far = sitk.Image(misaligned.mri)
    far.SetOrigin(tuple(np.array(far.GetOrigin()) + (1000.0, 0.0, 0.0)))
    with pytest.raises(FusionInputError, match=r"do not overlap: their headers place them \d+ mm apart"):
        register_volumes(misaligned.ct, far, reference_modality="ct", moving_modality="mri")


def test_a_ct_field_of_view_of_air_is_refused(misaligned):
    """A box above the head holds no anatomy: mutual information fitted noise and moved it over 100 mm."""
    noise = np.random.default_rng(0).normal(-1000.0, 10.0, sitk.GetArrayViewFromImage(misaligned.ct).shape)
    air = sitk.GetImageFromArray(noise.astype(np.float32))
    air.CopyInformation(misaligned.ct)
    with pytest.raises(FusionInputError, match=r"reference image \(CT\): only 0\.0 % of the CT is denser than -500 HU"):
        register_volumes(air, misaligned.mri, reference_modality="ct", moving_modality="mri")
