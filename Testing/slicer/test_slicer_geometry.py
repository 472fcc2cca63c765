"""RAS <-> LPS conversion of real MRML volume nodes (slicer-core), parent transforms, and the
registration-transform convention."""

from __future__ import annotations

import numpy as np
import pytest

from fusioncinn_slicer_testutil import add_linear_transform, head_like_volume, require_slicer_core, rigid, rotation

slicer = require_slicer_core()

import SimpleITK as sitk  # noqa: E402

from FusionCINNLogic import geometry  # noqa: E402

F = np.diag([-1.0, -1.0, 1.0])
OBLIQUE = rotation(12.0, -7.0, 25.0)
INDICES = [(0, 0, 0), (5, 3, 1), (47, 39, 11), (10, 30, 7)]


def _ijk_to_ras(node):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_round_trip_keeps_voxels_dtype_and_oblique_geometry(scene):
    image = head_like_volume(0, direction=OBLIQUE, dtype=np.int16, scale=2000, offset=-1000)
    node = geometry.addVolumeNodeFromImage(scene, image, "oblique")
    back = geometry.volumeNodeToImage(node)
    assert back.GetPixelID() == sitk.sitkInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-12)
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-12)
    np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-12)


def test_voxel_positions_agree_between_slicer_and_simpleitk(scene):
    """Independent check: Slicer's IJK->RAS of a voxel is the RAS flip of SimpleITK's physical point,
    and the (k, j, i) arrays hold the same voxel there."""
    image = head_like_volume(1, direction=OBLIQUE)
    node = geometry.addVolumeNodeFromImage(scene, image, "oblique")
    ijk_to_ras = _ijk_to_ras(node)
    array = slicer.util.arrayFromVolume(node)
    for i, j, k in INDICES:
        ras = (ijk_to_ras @ np.array([i, j, k, 1.0]))[:3]
        lps = np.array(image.TransformIndexToPhysicalPoint((i, j, k)))
        np.testing.assert_allclose(ras, F @ lps, atol=1e-9)
        assert array[k, j, i] == image.GetPixel(i, j, k)


def test_linear_parent_transforms_are_folded_like_hardening(scene):
    image = head_like_volume(2, direction=OBLIQUE)
    node = geometry.addVolumeNodeFromImage(scene, image, "moved")
    outer = add_linear_transform(scene, rigid((0, 0, 30), (5, -3, 2)), "outer")
    inner = add_linear_transform(scene, rigid((10, 5, 0), (-12, 40, 7)), "inner", parent=outer)
    node.SetAndObserveTransformNodeID(inner.GetID())

    folded = geometry.volumeNodeToImage(node)
    world = rigid((0, 0, 30), (5, -3, 2)) @ rigid((10, 5, 0), (-12, 40, 7)) @ _ijk_to_ras(node)
    for i, j, k in INDICES:
        expected_ras = (world @ np.array([i, j, k, 1.0]))[:3]
        np.testing.assert_allclose(F @ np.array(folded.TransformIndexToPhysicalPoint((i, j, k))), expected_ras,
                                   atol=1e-9)

    hardened = geometry.addVolumeNodeFromImage(scene, image, "hardened")
    hardened.SetAndObserveTransformNodeID(inner.GetID())
    hardened.HardenTransform()
    assert hardened.GetParentTransformNode() is None
    np.testing.assert_allclose(geometry.imageGridToRasMatrix(folded), _ijk_to_ras(hardened), atol=1e-9)
    # the node itself is untouched
    assert node.GetTransformNodeID() == inner.GetID()


def test_non_linear_parent_transform_is_refused_with_advice(scene):
    node = geometry.addVolumeNodeFromImage(scene, head_like_volume(3), "warped")
    grid = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    node.SetAndObserveTransformNodeID(grid.GetID())
    with pytest.raises(geometry.GeometryError, match="not linear.*[Hh]arden"):
        geometry.volumeNodeToImage(node)


def test_shearing_parent_transform_is_refused(scene):
    node = geometry.addVolumeNodeFromImage(scene, head_like_volume(4), "sheared")
    shear = np.eye(4)
    shear[0, 1] = 0.3
    node.SetAndObserveTransformNodeID(add_linear_transform(scene, shear, "shear").GetID())
    with pytest.raises(geometry.GeometryError, match="not orthogonal"):
        geometry.volumeNodeToImage(node)


def test_vector_and_empty_volumes_are_refused(scene):
    colour = slicer.util.addVolumeFromArray(np.zeros((2, 8, 8, 3), np.uint8), name="rgb",
                                            nodeClassName="vtkMRMLVectorVolumeNode")
    with pytest.raises(geometry.GeometryError, match="vector/colour.*scalar"):
        geometry.volumeNodeToImage(colour)
    labels = slicer.util.addVolumeFromArray(np.zeros((2, 8, 8), np.uint8), name="labels",
                                            nodeClassName="vtkMRMLLabelMapVolumeNode")
    with pytest.raises(geometry.GeometryError, match="LabelMap"):
        geometry.volumeNodeToImage(labels)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(geometry.GeometryError, match="no voxels"):
        geometry.volumeNodeToImage(empty)


def _known_registration():
    transform = sitk.Euler3DTransform()
    transform.SetCenter((10.0, -20.0, 30.0))
    transform.SetRotation(np.radians(8.0), np.radians(-5.0), np.radians(12.0))
    transform.SetTranslation((6.0, -4.0, 9.0))
    return transform


def test_registration_transform_aligns_the_moving_node_when_set_as_its_parent(scene):
    """ITK: T maps reference LPS points to moving LPS points. Set as the moving node's parent, the
    transform node must take the moving point q = T(p) back onto p, in RAS."""
    transform = _known_registration()
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    geometry.setTransformNodeFromRegistration(node, transform)
    moving = geometry.addVolumeNodeFromImage(scene, head_like_volume(5), "moving")
    moving.SetAndObserveTransformNodeID(node.GetID())
    for p_ras in ([0.0, 0.0, 0.0], [35.0, -12.5, 60.0], [-80.0, 44.0, -3.0]):
        q_lps = transform.TransformPoint(tuple(F @ np.array(p_ras)))
        q_ras = F @ np.array(q_lps)
        world = [0.0, 0.0, 0.0]
        moving.TransformPointToWorld(list(q_ras), world)
        np.testing.assert_allclose(world, p_ras, atol=1e-9)
        # the other convention (T itself as the parent) would be off by several mm here
        wrong = geometry.transformToRasMatrix(transform) @ np.r_[q_ras, 1.0]
        assert np.linalg.norm(wrong[:3] - np.array(p_ras)) > 5.0

    from_parent = np.linalg.inv(geometry.transformNodeMatrix(node))
    np.testing.assert_allclose(from_parent, geometry.transformToRasMatrix(transform), atol=1e-12)


def test_registration_transform_matches_resampling(scene):
    """The moving volume shown under the transform node lands where the engine's resampling puts it."""
    transform = _known_registration()
    reference = head_like_volume(6, size=(40, 40, 20), spacing=(2.0, 2.0, 2.0), origin=(-40.0, -40.0, -20.0))
    moving = head_like_volume(7, size=(40, 40, 20), spacing=(2.0, 2.0, 2.0), origin=(-30.0, -45.0, -10.0),
                              direction=OBLIQUE)
    resampled = sitk.Resample(moving, reference, transform, sitk.sitkNearestNeighbor, 0.0)
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    geometry.setTransformNodeFromRegistration(node, transform)
    moving_node = geometry.addVolumeNodeFromImage(scene, moving, "moving")
    moving_node.SetAndObserveTransformNodeID(node.GetID())
    moving_node.HardenTransform()  # what Slicer would display, as a grid
    shown = geometry.volumeNodeToImage(moving_node)
    checked = 0
    for index in [(20, 20, 10), (5, 30, 12), (33, 9, 4), (12, 14, 8)]:
        point = reference.TransformIndexToPhysicalPoint(index)
        continuous = shown.TransformPhysicalPointToContinuousIndex(point)
        nearest = tuple(int(round(c)) for c in continuous)
        if all(0 <= n < s for n, s in zip(nearest, shown.GetSize())):
            assert shown.GetPixel(nearest) == resampled.GetPixel(index)
            checked += 1
    assert checked >= 3


def test_non_linear_itk_transform_is_refused():
    bspline = sitk.BSplineTransformInitializer(sitk.Image(8, 8, 8, sitk.sitkFloat32), [2, 2, 2])
    parameters = list(bspline.GetParameters())
    parameters[5] = 3.0
    bspline.SetParameters(parameters)
    with pytest.raises(geometry.GeometryError, match="not linear"):
        geometry.transformToRasMatrix(bspline)
