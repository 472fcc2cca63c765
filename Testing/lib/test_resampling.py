"""Resampling onto a reference grid, background values, grid comparison and .tfm files."""

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.geometry import (affine_parts, background_value, load_transform, resample_to_reference,
                                    same_grid, save_transform)
from FusionCINNLib.geometry.resampling import coverage_on_reference
from FusionCINNLib.geometry.transforms import invert_linear, rescale_linear

OBLIQUE = sitk.VersorRigid3DTransform((0.1, 0.2, 0.05, 0.97)).GetMatrix()


def _image(size=(40, 36, 20), spacing=(1.1, 0.9, 2.5), origin=(-20.3, 13.7, 5.1), direction=OBLIQUE,
           pixel=sitk.sitkFloat32, seed=0):
    rng = np.random.default_rng(seed)
    array = (rng.random(size[::-1]) * 100).astype(sitk.GetArrayViewFromImage(sitk.Image(1, 1, 1, pixel)).dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


def test_output_is_float32_on_exactly_the_oblique_reference_grid():
    reference = _image(size=(33, 41, 17), spacing=(0.7, 0.8, 3.0), origin=(1.25, -7.5, 30.0))
    moving = _image(direction=sitk.VersorRigid3DTransform((-0.2, 0.1, 0.3, 0.93)).GetMatrix(), pixel=sitk.sitkInt16)
    transform = sitk.Euler3DTransform((0, 0, 0), 0.05, -0.03, 0.1, (2.0, -1.0, 3.0))
    out = resample_to_reference(moving, reference, transform, default_value=-5.0)
    assert out.GetPixelID() == sitk.sitkFloat32
    assert same_grid(out, reference, tol=1e-6)
    assert out.GetSize() == reference.GetSize()
    assert out.GetOrigin() == reference.GetOrigin()
    assert out.GetSpacing() == reference.GetSpacing()
    assert out.GetDirection() == reference.GetDirection()


def test_coverage_is_exactly_where_resampling_takes_values_from_inside_the_moving_image():
    reference = _image(size=(33, 41, 17), spacing=(0.7, 0.8, 3.0))
    moving = _image(size=(20, 30, 12), origin=reference.TransformIndexToPhysicalPoint((9, 5, 4)))
    moving = sitk.Abs(moving) + 1.0  # every value inside is at least 1
    transform = sitk.Euler3DTransform((0, 0, 0), 0.05, -0.03, 0.1, (2.0, -1.0, 3.0))
    covered = coverage_on_reference(moving, reference, transform)
    resampled = sitk.GetArrayFromImage(resample_to_reference(moving, reference, transform, default_value=-1.0))
    assert covered.shape == resampled.shape and 0.1 < covered.mean() < 0.9
    np.testing.assert_array_equal(covered, resampled != -1.0)


def test_coverage_is_none_when_the_moving_image_holds_the_whole_reference():
    image = _image()
    assert coverage_on_reference(image, image) is None
    larger = _image(size=(60, 56, 30), origin=image.TransformIndexToPhysicalPoint((-10, -10, -5)))
    assert coverage_on_reference(larger, image, sitk.Euler3DTransform()) is None


def test_identity_on_the_same_grid_keeps_the_values():
    image = _image(pixel=sitk.sitkUInt16)
    out = resample_to_reference(image, image)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(out),
                                  sitk.GetArrayViewFromImage(image).astype(np.float32))


def test_transform_maps_reference_points_to_moving_points():
    moving = _image(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    shift = sitk.TranslationTransform(3, (3.0, -2.0, 4.0))
    out = resample_to_reference(moving, moving, shift, default_value=-7.0)
    a, b = sitk.GetArrayViewFromImage(out), sitk.GetArrayViewFromImage(moving)
    np.testing.assert_array_equal(a[5, 10, 8], b[5 + 4, 10 - 2, 8 + 3])
    assert np.all(a[-4:] == -7.0) and np.all(a[:, :, -3:] == -7.0)


def test_vector_images_resample_per_component():
    rgb = sitk.Compose([_image(size=(30, 20), spacing=(1.0, 1.0), origin=(0.0, 0.0), direction=(1, 0, 0, 1), seed=s)
                        for s in range(3)])
    out = resample_to_reference(rgb, rgb)
    assert out.GetPixelID() == sitk.sitkVectorFloat32 and out.GetNumberOfComponentsPerPixel() == 3
    np.testing.assert_allclose(sitk.GetArrayViewFromImage(out), sitk.GetArrayViewFromImage(rgb))


def test_bad_resampling_inputs_raise_input_errors():
    volume = _image()
    picture = sitk.Image(10, 10, sitk.sitkFloat32)
    with pytest.raises(FusionInputError, match="2D image onto a 3D"):
        resample_to_reference(picture, volume)
    with pytest.raises(FusionInputError, match="2D transform"):
        resample_to_reference(volume, volume, sitk.Euler2DTransform())
    with pytest.raises(FusionInputError, match="SimpleITK image"):
        resample_to_reference(np.zeros((3, 3, 3)), volume)


def test_background_value_per_modality():
    ct = sitk.GetImageFromArray(np.array([[[-1024, 0, 1500]]], dtype=np.int16))
    assert background_value(ct, "ct") == -1000.0
    assert background_value(ct + 600, "CT") == -424.0
    mri = sitk.GetImageFromArray(np.array([[[3.0, 50.0, 900.0]]], dtype=np.float32))
    for modality in ("mri", "pet", "spect"):
        assert background_value(mri, modality) == 3.0
    with pytest.raises(FusionInputError, match="unknown modality"):
        background_value(mri, "xray")


def test_same_grid_compares_size_spacing_origin_direction_within_tolerance():
    a = _image()
    b = sitk.Image(a)
    b.SetOrigin(tuple(np.array(a.GetOrigin()) + 5e-7))
    assert same_grid(a, b)
    b.SetOrigin(tuple(np.array(a.GetOrigin()) + 1e-5))
    assert not same_grid(a, b)
    assert same_grid(a, b, tol=1e-4)
    assert not same_grid(a, _image(size=(40, 36, 21)))
    assert not same_grid(a, _image(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)))
    assert not same_grid(sitk.Image(4, 4, sitk.sitkUInt8), sitk.Image(4, 4, 1, sitk.sitkUInt8))


@pytest.mark.parametrize("transform", [
    sitk.Euler3DTransform((1.0, 2.0, 3.0), 0.1, -0.2, 0.05, (4.0, -5.0, 6.0)),
    sitk.AffineTransform((1.1, 0.02, 0.0, -0.01, 0.95, 0.03, 0.0, 0.01, 1.02), (1.0, 2.0, 3.0), (5.0, 6.0, 7.0)),
    sitk.Euler2DTransform((3.0, 4.0), 0.2, (1.0, -2.0)),
])
def test_tfm_round_trip_maps_points_identically(tmp_path, transform):
    path = tmp_path / "reg.tfm"
    save_transform(transform, path)
    loaded = load_transform(path)
    assert loaded.GetName() == transform.GetName()
    dimension = transform.GetDimension()
    for point in np.random.default_rng(0).uniform(-100, 100, (5, dimension)):
        np.testing.assert_allclose(loaded.TransformPoint(tuple(point)), transform.TransformPoint(tuple(point)),
                                   atol=1e-9)
    assert [p.name for p in tmp_path.iterdir()] == ["reg.tfm"]
    assert path.read_text().startswith("#Insight Transform File V1.0")


def test_a_composite_is_saved_as_one_affine_transform(tmp_path):
    composite = sitk.CompositeTransform([sitk.Euler3DTransform((0, 0, 0), 0.1, 0.0, 0.2, (1.0, 2.0, 3.0)),
                                         sitk.TranslationTransform(3, (5.0, 0.0, -1.0))])
    save_transform(composite, tmp_path / "c.tfm")
    text = (tmp_path / "c.tfm").read_text()
    assert text.count("Transform:") == 1 and "AffineTransform_double_3_3" in text
    loaded = load_transform(tmp_path / "c.tfm")
    point = (10.0, -20.0, 30.0)
    np.testing.assert_allclose(loaded.TransformPoint(point), composite.TransformPoint(point), atol=1e-9)


def test_loading_missing_or_corrupt_files_raises_input_errors(tmp_path):
    with pytest.raises(FusionInputError, match="not found"):
        load_transform(tmp_path / "missing.tfm")
    (tmp_path / "bad.tfm").write_text("not a transform\n")
    with pytest.raises(FusionInputError, match="not a readable ITK transform"):
        load_transform(tmp_path / "bad.tfm")


def test_inverse_and_unit_rescaling_are_exact():
    forward = sitk.Euler3DTransform((10.0, -4.0, 2.0), 0.2, -0.1, 0.3, (3.0, 1.0, -2.0))
    inverse = invert_linear(forward)
    point = (12.0, 40.0, -8.0)
    np.testing.assert_allclose(inverse.TransformPoint(forward.TransformPoint(point)), point, atol=1e-12)
    scaled = rescale_linear(forward, 1.0 / 65.0)
    np.testing.assert_allclose(np.array(scaled.TransformPoint(tuple(np.array(point) / 65.0))) * 65.0,
                               forward.TransformPoint(point), atol=1e-12)
    matrix, offset = affine_parts(forward)
    np.testing.assert_allclose(matrix @ point + offset, forward.TransformPoint(point), atol=1e-12)
