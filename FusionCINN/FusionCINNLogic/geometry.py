"""MRML volume nodes <-> SimpleITK images, and ITK registration transforms -> MRML transform matrices.

Conventions (see DESIGN.md):

- Slicer works in RAS, ITK/SimpleITK in LPS. Converting flips the sign of the first two axes of the
  origin and of the direction matrix (``F = diag(-1, -1, 1)``); spacing is kept; the voxel array is
  (k, j, i) on both sides (``slicer.util.arrayFromVolume`` and ``sitk.GetArrayFromImage``).
- A volume's *world* geometry is ``parentToWorld @ IJKToRAS``. A linear parent transform is folded
  into the SimpleITK image's geometry, so the image sits where Slicer shows the volume. A non-linear
  parent (grid, B-spline, thin plate) is refused with a message saying how to harden it.
- A registration transform ``T`` from the engine maps *reference* physical points to the *other*
  input's points (LPS mm; the ITK resampling convention: ``moving_on_reference(p) = moving(T(p))``).
  In RAS, ``T_ras = F4 @ T_lps @ F4`` with ``F4 = diag(-1, -1, 1, 1)``. A Slicer parent transform
  maps a node's coordinates to its parent's (world): to bring the other volume onto the reference,
  its parent must map its points ``q`` to ``T_ras^-1(q)``. So the transform node gets
  ``matrixTransformToParent = inverse(T_ras)``, i.e. ``matrixTransformFromParent = T_ras``, the same
  thing Slicer does when it loads the engine's ``.tfm`` file as a parent transform.

Only numpy, vtk and slicer are imported at module level; SimpleITK inside the functions.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
"""F: multiplies LPS vectors into RAS and RAS into LPS (its own inverse)."""

LPS_TO_RAS_4 = np.diag([-1.0, -1.0, 1.0, 1.0])

ORTHOGONALITY_TOLERANCE = 1e-4


class GeometryError(ValueError):
    """A volume or transform whose geometry cannot be turned into an image grid (one-line message)."""


def _vtkMatrix(array: np.ndarray):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row, column]))
    return matrix


def _numpyMatrix(matrix) -> np.ndarray:
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)], dtype=float)


def ijkToWorldMatrix(volumeNode) -> np.ndarray:
    """The 4x4 IJK -> world RAS matrix of ``volumeNode``, its linear parent transforms included."""
    import vtk

    ijkToRas = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(ijkToRas)
    matrix = _numpyMatrix(ijkToRas)
    parent = volumeNode.GetParentTransformNode()
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise GeometryError(
                f"{volumeNode.GetName()}: its transform '{parent.GetName()}' (or one above it) is not linear; "
                "harden it on the volume first (Transforms module, 'Harden transform'), which resamples it")
        toWorld = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(toWorld)
        matrix = _numpyMatrix(toWorld) @ matrix
    return matrix


def gridFromMatrix(ijkToRas: np.ndarray, name: str = "volume") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spacing, origin RAS, direction RAS 3x3 with unit columns) of a 4x4 IJK -> RAS matrix.

    Raises GeometryError when the axes are degenerate or not orthogonal (a shearing transform)."""
    linear = np.asarray(ijkToRas, dtype=float)[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if not np.all(np.isfinite(linear)) or np.any(spacing <= 1e-12):
        raise GeometryError(f"{name}: degenerate voxel axes (spacing {spacing.tolist()})")
    direction = linear / spacing
    if np.abs(direction.T @ direction - np.eye(3)).max() > ORTHOGONALITY_TOLERANCE:
        raise GeometryError(f"{name}: its voxel axes are not orthogonal (a shearing transform); "
                            "harden the transform on the volume first, which resamples it")
    return spacing, np.asarray(ijkToRas, dtype=float)[:3, 3].copy(), direction


def matrixFromGrid(spacing, originRas, directionRas) -> np.ndarray:
    """The 4x4 IJK -> RAS matrix of a grid."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(directionRas, dtype=float).reshape(3, 3) * np.asarray(spacing, dtype=float)
    matrix[:3, 3] = np.asarray(originRas, dtype=float)
    return matrix


def checkScalarVolume(volumeNode, role: str = "input") -> None:
    """GeometryError unless ``volumeNode`` is a scalar (not vector, not label map) volume node with voxels."""
    if volumeNode is None:
        raise GeometryError(f"no {role} volume given")
    name = volumeNode.GetName()
    if volumeNode.IsA("vtkMRMLVectorVolumeNode") or volumeNode.IsA("vtkMRMLTensorVolumeNode"):
        raise GeometryError(f"{name}: the {role} volume is a vector/colour volume; give a scalar volume "
                            "(Volumes module: 'Convert to scalar volume' for colour images)")
    if not volumeNode.IsA("vtkMRMLScalarVolumeNode") or volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
        raise GeometryError(f"{name}: the {role} is a {volumeNode.GetClassName()}; give a scalar volume")
    imageData = volumeNode.GetImageData()
    if imageData is None or min(imageData.GetDimensions()) < 1 or imageData.GetNumberOfPoints() == 0:
        raise GeometryError(f"{name}: the {role} volume has no voxels")
    if imageData.GetNumberOfScalarComponents() != 1:
        raise GeometryError(f"{name}: the {role} volume has {imageData.GetNumberOfScalarComponents()} "
                            "components per voxel; give a scalar volume")


def volumeNodeToImage(volumeNode, role: str = "input"):
    """A SimpleITK image (LPS) with the voxels (copied, same dtype) and *world* geometry of ``volumeNode``."""
    import SimpleITK as sitk
    import slicer.util

    checkScalarVolume(volumeNode, role)
    spacing, originRas, directionRas = gridFromMatrix(ijkToWorldMatrix(volumeNode), volumeNode.GetName())
    array = np.array(slicer.util.arrayFromVolume(volumeNode), copy=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(v) for v in LPS_TO_RAS @ originRas))
    image.SetDirection(tuple(float(v) for v in (LPS_TO_RAS @ directionRas).ravel()))
    return image


def imageGridToRasMatrix(image) -> np.ndarray:
    """The 4x4 IJK -> RAS matrix of a 3D SimpleITK image's grid."""
    if image.GetDimension() != 3:
        raise GeometryError(f"expected a 3D image, got {image.GetDimension()}D")
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    return matrixFromGrid(image.GetSpacing(), LPS_TO_RAS @ np.array(image.GetOrigin()), LPS_TO_RAS @ direction)


def imageToVolumeNode(image, volumeNode) -> None:
    """Write a 3D scalar SimpleITK image's voxels (copied) and geometry into ``volumeNode``.

    The node's parent transform is removed, so the node sits exactly where the image is."""
    import SimpleITK as sitk
    import slicer.util

    if image.GetNumberOfComponentsPerPixel() != 1:
        raise GeometryError("expected a scalar image")
    matrix = imageGridToRasMatrix(image)
    slicer.util.updateVolumeFromArray(volumeNode, sitk.GetArrayFromImage(image))
    volumeNode.SetIJKToRASMatrix(_vtkMatrix(matrix))
    volumeNode.SetAndObserveTransformNodeID(None)


def addVolumeNodeFromImage(scene, image, name: str):
    """A new scalar volume node in ``scene`` holding ``image`` (with default display nodes)."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
    imageToVolumeNode(image, node)
    node.CreateDefaultDisplayNodes()
    return node


def copyGrid(source, target) -> None:
    """Give ``target`` the same IJK -> RAS geometry and the same parent transform as ``source``."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    source.GetIJKToRASMatrix(matrix)
    target.SetIJKToRASMatrix(matrix)
    target.SetAndObserveTransformNodeID(source.GetTransformNodeID())


def linearTransformParts(transform) -> Tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) with ``T(p) = matrix @ p + offset`` for a linear SimpleITK 3D transform.

    Raises GeometryError if ``transform`` is not linear."""
    if transform.GetDimension() != 3:
        raise GeometryError(f"expected a 3D transform, got {transform.GetDimension()}D")
    origin = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    matrix = np.stack([np.array(transform.TransformPoint(tuple(e))) - origin for e in np.eye(3)], axis=1)
    for probe in ((37.0, -21.0, 13.0), (-120.0, 85.0, 240.0)):
        if not np.allclose(transform.TransformPoint(probe), matrix @ np.array(probe) + origin, atol=1e-5):
            raise GeometryError(f"the registration transform ({transform.GetName()}) is not linear")
    return matrix, origin


def transformToRasMatrix(transform) -> np.ndarray:
    """The 4x4 RAS matrix of a linear ITK (LPS) transform: ``T_ras = F4 @ T_lps @ F4``.

    For a registration transform this maps reference RAS points to the other input's RAS points."""
    matrix, offset = linearTransformParts(transform)
    lps = np.eye(4)
    lps[:3, :3] = matrix
    lps[:3, 3] = offset
    return LPS_TO_RAS_4 @ lps @ LPS_TO_RAS_4


def registrationToParentMatrix(transform) -> np.ndarray:
    """The ``matrixTransformToParent`` that, as the other input's parent transform, aligns it with the
    reference: the inverse of :func:`transformToRasMatrix` (module docstring)."""
    return np.linalg.inv(transformToRasMatrix(transform))


def setTransformNodeFromRegistration(transformNode, transform) -> None:
    """Store a registration transform in a vtkMRMLLinearTransformNode as the other input's parent
    transform (``matrixTransformFromParent = T_ras``)."""
    transformNode.SetMatrixTransformToParent(_vtkMatrix(registrationToParentMatrix(transform)))


def transformNodeMatrix(transformNode) -> Optional[np.ndarray]:
    """The 4x4 ``matrixTransformToParent`` of a linear transform node (None for None)."""
    import vtk

    if transformNode is None:
        return None
    matrix = vtk.vtkMatrix4x4()
    transformNode.GetMatrixTransformToParent(matrix)
    return _numpyMatrix(matrix)
