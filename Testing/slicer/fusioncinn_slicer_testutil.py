"""Helpers shared by the Slicer module tests."""

from __future__ import annotations

import numpy as np
import pytest

INSTALL_HINT = "pip install slicer-core (real MRML without the Slicer application)"


def require_slicer_core():
    """The ``slicer`` package of slicer-core, or skip the calling test module with the reason."""
    try:
        import slicer
    except ImportError as err:
        pytest.skip(f"slicer-core is not installed ({err}); {INSTALL_HINT}", allow_module_level=True)
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip(f"the 'slicer' package found at {getattr(slicer, '__file__', '?')} is not slicer-core "
                    f"(no vtkMRMLScene); {INSTALL_HINT}", allow_module_level=True)
    return slicer


def rotation(degrees_x: float, degrees_y: float, degrees_z: float) -> np.ndarray:
    """A 3x3 rotation matrix (x, then y, then z)."""
    ax, ay, az = np.radians([degrees_x, degrees_y, degrees_z])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def rigid(degrees=(0.0, 0.0, 0.0), translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """A 4x4 rigid matrix."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation(*degrees)
    matrix[:3, 3] = translation
    return matrix


def vtk_matrix(array):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r][c]))
    return matrix


def add_linear_transform(scene, matrix_to_parent, name="T", parent=None):
    """A vtkMRMLLinearTransformNode with the given 4x4 to-parent matrix (optionally under ``parent``)."""
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformToParent(vtk_matrix(matrix_to_parent))
    if parent is not None:
        node.SetAndObserveTransformNodeID(parent.GetID())
    return node


def head_like_volume(seed, size=(48, 40, 12), spacing=(1.1, 0.9, 3.0), origin=(-20.0, 15.0, -8.0),
                     direction=None, dtype=np.float32, scale=800.0, offset=0.0):
    """A SimpleITK volume with a bright block on a zero background (LPS geometry as given)."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    array = np.zeros(size[::-1], dtype=np.float64)
    k, j, i = size[2], size[1], size[0]
    array[:, j // 5: 4 * j // 5, i // 6: 5 * i // 6] = rng.random((k, 4 * j // 5 - j // 5, 5 * i // 6 - i // 6))
    image = sitk.GetImageFromArray((array * scale + offset).astype(dtype))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(tuple(np.asarray(direction, dtype=float).ravel()))
    return image
