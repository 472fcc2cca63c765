import numpy as np
import pytest
import SimpleITK as sitk
import torch

from FusionCINNLib.errors import FusionCancelled, FusionInputError, FusionWarning
from FusionCINNLib.fusion import slices
from FusionCINNLib.fusion.orientation import slice_axis, stack_spacing
from FusionCINNLib.fusion.pipeline import fuse_images, fuse_volumes
from FusionCINNLib.fusion.slices import fuse_slices, worker_count

OBLIQUE = sitk.VersorRigid3DTransform((0.1, 0.2, 0.05, 0.97))


def _volume(seed, size=(70, 64, 9), spacing=(0.7, 0.8, 2.5), origin=(-20.5, 13.25, 7.0),
            direction=None, scale=1000.0):
    rng = np.random.default_rng(seed)
    array = np.zeros(size[::-1], np.float32)
    array[:, 10:50, 12:60] = rng.random((size[2], 40, 48)) * scale
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction or sitk.VersorRigid3DTransform(OBLIQUE).GetMatrix())
    return image


def _assert_same_geometry(out, ref):
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_array_equal(out.GetSpacing(), ref.GetSpacing())
    np.testing.assert_array_equal(out.GetOrigin(), ref.GetOrigin())
    np.testing.assert_array_equal(out.GetDirection(), ref.GetDirection())


@pytest.mark.parametrize("reference", ["a", "b"])
def test_fused_volume_keeps_reference_geometry_exactly(tiny_model, reference):
    ct, mri = _volume(0), _volume(1, scale=300.0)
    result = fuse_volumes(ct, mri, "ct-mri", tiny_model, register=False, reference=reference, device="cpu")
    _assert_same_geometry(result.image, ct if reference == "a" else mri)
    assert result.image.GetPixelID() == sitk.sitkFloat32
    assert result.transform is None


def test_volume_fusion_equals_slice_fusion_along_chosen_axis(tiny_model):
    ct, mri = _volume(2), _volume(3, scale=300.0)
    result = fuse_volumes(ct, mri, "ct-mri", tiny_model, register=False, reference="a", plane="axial", device="cpu")
    axis = slice_axis(ct, "axial")
    from FusionCINNLib.imaging.intensity import window_for
    wa = window_for(sitk.GetArrayFromImage(ct), "ct")
    wb = window_for(sitk.GetArrayFromImage(mri), "mri")
    a = np.moveaxis(wa.normalise(sitk.GetArrayFromImage(ct)), axis, 0)
    b = np.moveaxis(wb.normalise(sitk.GetArrayFromImage(mri)), axis, 0)
    expected = np.moveaxis(fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=3, workers=1), 0, axis)
    np.testing.assert_allclose(wa.normalise(sitk.GetArrayFromImage(result.image)), expected, atol=1e-5)


def test_batch_size_does_not_change_the_result(tiny_model):
    rng = np.random.default_rng(0)
    a = rng.random((5, 40, 72)).astype(np.float32)
    b = rng.random((5, 40, 72)).astype(np.float32)
    one = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=1)
    five = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=5)
    np.testing.assert_allclose(one, five, atol=1e-5)
    again = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=5)
    np.testing.assert_array_equal(five, again)


def test_worker_threads_do_not_change_the_result_and_leave_torch_threads_alone(tiny_model):
    rng = np.random.default_rng(1)
    a = rng.random((7, 40, 72)).astype(np.float32)
    b = rng.random((7, 40, 72)).astype(np.float32)
    threads = torch.get_num_threads()
    one = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=1, workers=1)
    three = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=1, workers=3)
    np.testing.assert_allclose(one, three, atol=1e-5)
    assert torch.get_num_threads() == threads


def test_cancel_stops_threaded_fusion_before_the_remaining_slices(tiny_model):
    a = np.full((40, 64, 64), 0.5, np.float32)
    fractions = []

    def cancel() -> bool:
        return len(fractions) >= 3

    with pytest.raises(FusionCancelled):
        fuse_slices(tiny_model.net, a, a.copy(), device="cpu", batch_size=1, workers=2, cancel=cancel,
                    progress=lambda fraction, message: fractions.append(fraction))
    assert fractions[-1] < 0.5


def test_only_the_slices_asked_for_run_the_network(tiny_model, monkeypatch):
    rng = np.random.default_rng(4)
    a, b = rng.random((5, 32, 40), dtype=np.float32), rng.random((5, 32, 40), dtype=np.float32)
    every = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=1)
    fused = []
    real = slices.fuse_batch
    monkeypatch.setattr(slices, "fuse_batch", lambda net, x, y, *args: fused.append(len(x)) or real(net, x, y, *args))
    some = fuse_slices(tiny_model.net, a, b, device="cpu", batch_size=1, workers=1, only=np.array([1, 3]))
    assert fused == [1, 1]
    np.testing.assert_allclose(some[[1, 3]], every[[1, 3]], atol=1e-5)
    assert not some[[0, 2, 4]].any()


def test_empty_slices_are_background_and_inputs_untouched(tiny_model):
    a = np.zeros((3, 64, 64), np.float32)
    b = np.zeros((3, 64, 64), np.float32)
    a[1, 20:40, 20:40] = 0.5
    b[1, 10:30, 10:30] = 0.9
    a_copy, b_copy = a.copy(), b.copy()
    fused = fuse_slices(tiny_model.net, a, b, device="cpu")
    assert fused[0].max() == 0 and fused[2].max() == 0 and fused[1].max() > 0
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)


def test_axis_choice_follows_direction():
    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    assert slice_axis(image, "axial") == 0
    assert slice_axis(image, "coronal") == 1
    assert slice_axis(image, "sagittal") == 2
    image.SetDirection((1, 0, 0, 0, 0, 1, 0, -1, 0))  # index j runs along -S: a coronal acquisition
    assert slice_axis(image, "axial") == 1


def test_a_slice_stack_s_spacing_is_the_slice_axis_then_the_rows_and_columns():
    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetSpacing((0.5, 0.7, 2.0))  # i, j, k: columns 0.5 mm, rows 0.7 mm, slices 2 mm
    assert stack_spacing(image, 0) == (2.0, 0.7, 0.5)  # axial: (k, j, i)
    assert stack_spacing(image, 1) == (0.7, 2.0, 0.5)  # coronal: np.moveaxis gives (j, k, i)
    assert stack_spacing(image, 2) == (0.5, 2.0, 0.7)  # sagittal: (i, k, j)


def test_without_registration_different_grids_are_resampled_as_the_headers_place_them(tiny_model):
    ct, mri = _volume(0), _volume(1, spacing=(1.0, 1.0, 2.5), scale=300.0)
    window = dict(window_b=(0.0, 300.0))  # the default window's percentiles depend on the grid
    result = fuse_volumes(ct, mri, "ct-mri", tiny_model, register="never", reference="a", device="cpu", **window)
    assert result.transform is None and result.alignment == "header geometry"
    on_ct = sitk.Resample(mri, ct, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    expected = fuse_volumes(ct, on_ct, "ct-mri", tiny_model, register="never", reference="a", device="cpu", **window)
    assert expected.alignment == "same grid"
    np.testing.assert_allclose(sitk.GetArrayFromImage(result.image), sitk.GetArrayFromImage(expected.image),
                               atol=1e-3)
    far = _volume(1, origin=(500.0, 13.25, 7.0))
    with pytest.raises(FusionInputError, match="do not overlap"):
        fuse_volumes(ct, far, "ct-mri", tiny_model, register=False)


def test_2d_with_3d_is_refused(tiny_model):
    with pytest.raises(FusionInputError, match="2D image with a 3D|3D image with a 2D"):
        fuse_images(sitk.Image(64, 64, sitk.sitkUInt8), _volume(0), "ct-mri", tiny_model)


def test_constant_and_nan_volumes_are_refused(tiny_model):
    ct = _volume(0)
    flat = sitk.Image(ct.GetSize(), sitk.sitkFloat32)
    flat.CopyInformation(ct)
    with pytest.raises(FusionInputError, match="constant"):
        fuse_volumes(ct, flat, "ct-mri", tiny_model, register=False, name_b="flat.nii")
    array = sitk.GetArrayFromImage(ct)
    array[: array.shape[0] * 3 // 4] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(ct)
    with pytest.raises(FusionInputError, match=r"nan\.nii: \d+ of \d+ voxels \(\d+ %\) are NaN or Inf"):
        fuse_volumes(bad, _volume(1), "ct-mri", tiny_model, register=False, name_a="nan.nii")


def test_a_few_nan_voxels_are_background_in_the_library_as_in_the_cli(tiny_model):
    """The Slicer Logic hands the library images with NaN outside the brain (SPM, FSL): background, not a refusal."""
    ct = _volume(0)
    array = sitk.GetArrayFromImage(ct)
    array[:, :3] = np.nan
    holes = sitk.GetImageFromArray(array)
    holes.CopyInformation(ct)
    with pytest.warns(FusionWarning, match=r"nan\.nii: \d+ voxels are NaN or Inf; treated as background"):
        result = fuse_volumes(holes, _volume(1), "ct-mri", tiny_model, register=False, name_a="nan.nii")
    assert np.isfinite(sitk.GetArrayViewFromImage(result.image)).all()


def test_workers_only_for_float32_on_the_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert worker_count(cpu, torch.float32, batches=10, requested=3) == 3
    assert worker_count(cpu, torch.float32, batches=2, requested=3) == 2
    assert worker_count(cpu, torch.float32, batches=10) == min(10, torch.get_num_threads())
    assert worker_count(cpu, torch.float16, batches=10, requested=3) == 1
    assert worker_count(cuda, torch.float32, batches=10, requested=3) == 1
    with pytest.raises(FusionInputError, match="workers must be >= 1"):
        worker_count(cpu, torch.float32, batches=10, requested=0)


@pytest.mark.parametrize("reference", ["a", "b"])
def test_outside_the_other_inputs_field_of_view_the_fused_volume_is_the_reference_alone(tiny_model, reference):
    """The other input has nothing there: fusing with its background would dim the reference (a PET beyond an
    MRI slab's field of view fused at half its value); the fused volume is the reference's own values."""
    ct, mri = _volume(0), _volume(1, scale=300.0)
    if reference == "a":
        mri = mri[20:, :, :]  # the MRI lacks the CT's first 20 columns (same physical place for the rest)
    else:
        ct = ct[:, 30:, :]  # the CT lacks the MRI's first 30 rows
    windows = dict(window_a=(-100.0, 1500.0), window_b=(0.0, 300.0))
    result = fuse_volumes(ct, mri, "ct-mri", tiny_model, register="never", reference=reference, device="cpu",
                          **windows)
    fixed = ct if reference == "a" else mri
    _assert_same_geometry(result.image, fixed)
    fused = sitk.GetArrayFromImage(result.image)
    window = result.windows[reference]
    alone = window.denormalise(window.normalise(sitk.GetArrayFromImage(fixed)))
    outside = np.zeros(fused.shape, bool)
    if reference == "a":
        outside[:, :, :20] = True
    else:
        outside[:, :30, :] = True
    np.testing.assert_allclose(fused[outside], alone[outside], atol=1e-3)
    assert np.abs(fused[~outside] - alone[~outside]).max() > 1.0, "inside, the network fuses both"
    assert result.outside_other == pytest.approx(outside.mean())
