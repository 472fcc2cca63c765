"""Linear transforms: ITK .tfm files and comparison of two transforms.

A registration transform maps *reference* physical points (LPS mm) to *moving* ones (the ITK
resampling convention). Slicer reads such a .tfm as the moving volume's parent transform
("transform from parent"), which brings the moving volume onto the reference.
"""

from __future__ import annotations

import os
from typing import Sequence, Tuple, Union

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_output
from ..errors import FusionInputError

PathLike = Union[str, os.PathLike]


def affine_parts(transform: sitk.Transform) -> Tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) of a linear transform: ``T(p) = matrix @ p + offset`` (matrix D x D, offset mm)."""
    dimension = transform.GetDimension()
    origin = np.array(transform.TransformPoint((0.0,) * dimension))
    columns = [np.array(transform.TransformPoint(tuple(e))) - origin for e in np.eye(dimension)]
    return np.stack(columns, axis=1), origin


def as_affine(transform: sitk.Transform, center: Sequence[float]) -> sitk.AffineTransform:
    """An AffineTransform equal to the linear ``transform``, parameterised about ``center`` (mm)."""
    matrix, offset = affine_parts(transform)
    center = np.asarray(center, dtype=float)
    affine = sitk.AffineTransform(transform.GetDimension())
    affine.SetCenter(tuple(center))
    affine.SetMatrix(tuple(matrix.ravel()))
    affine.SetTranslation(tuple(matrix @ center + offset - center))
    return affine


def invert_linear(transform: sitk.Transform) -> sitk.Transform:
    """The exact inverse of an Euler (2D/3D) or affine transform, of the same type.

    The inverse is parameterised about the image of the forward transform's centre, so a
    rotation by R about c with translation t becomes R^-1 about c + t with translation -t.
    """
    name = transform.GetName()
    dimension = transform.GetDimension()
    if name == "Euler3DTransform":
        forward = sitk.Euler3DTransform(transform)
        inverse = sitk.Euler3DTransform()
    elif name == "Euler2DTransform":
        forward = sitk.Euler2DTransform(transform)
        inverse = sitk.Euler2DTransform()
    elif name == "AffineTransform":
        forward = sitk.AffineTransform(transform)
        inverse = sitk.AffineTransform(dimension)
    else:
        raise FusionInputError(f"cannot invert a {name}; expected an Euler or affine transform")
    matrix = np.array(forward.GetMatrix()).reshape(dimension, dimension)
    centre = np.array(forward.GetCenter()) + np.array(forward.GetTranslation())
    inverse.SetCenter(tuple(centre))
    inverse.SetMatrix(tuple(np.linalg.inv(matrix).ravel()))
    inverse.SetTranslation(tuple(-np.array(forward.GetTranslation())))
    return inverse


def rescale_linear(transform: sitk.Transform, factor: float) -> sitk.Transform:
    """The Euler or affine ``transform`` expressed in physical space scaled by ``factor`` (p' = factor * p).

    Rotation and matrix are unchanged; centre and translation are multiplied by ``factor``.
    """
    copy = {"Euler3DTransform": sitk.Euler3DTransform, "Euler2DTransform": sitk.Euler2DTransform,
            "AffineTransform": sitk.AffineTransform}.get(transform.GetName())
    if copy is None:
        raise FusionInputError(f"cannot rescale a {transform.GetName()}; expected an Euler or affine transform")
    scaled = copy(transform)
    scaled.SetCenter(tuple(c * factor for c in scaled.GetCenter()))
    scaled.SetTranslation(tuple(t * factor for t in scaled.GetTranslation()))
    return scaled


def _flatten(transform: sitk.Transform) -> sitk.Transform:
    """A single-transform equivalent of ``transform`` (composites of linear transforms become affine)."""
    if transform.GetName() != "CompositeTransform":
        return transform
    composite = sitk.CompositeTransform(transform)
    if composite.GetNumberOfTransforms() == 1:
        return composite.GetNthTransform(0)
    dimension = transform.GetDimension()
    probe = np.vstack([np.zeros(dimension), np.eye(dimension)])
    mapped = np.array([composite.TransformPoint(tuple(p)) for p in probe])
    matrix = (mapped[1:] - mapped[0]).T
    check = np.array(composite.TransformPoint((1.0,) * dimension))
    if not np.allclose(check, matrix @ np.ones(dimension) + mapped[0], atol=1e-6):
        raise FusionInputError("only linear transforms can be flattened into one .tfm entry")
    return as_affine(composite, np.zeros(dimension))


def save_transform(transform: sitk.Transform, path: PathLike) -> None:
    """Write ``transform`` as an ITK transform file (.tfm/.txt/.h5/.mat), atomically.

    A composite of linear transforms is written as one AffineTransform so that Slicer reads it
    as a single linear transform. Slicer loads 3D transforms only.
    """
    flat = _flatten(transform)
    with atomic_output(path) as tmp:
        sitk.WriteTransform(flat, str(tmp))


def load_transform(path: PathLike) -> sitk.Transform:
    """Read an ITK transform file; a one-element composite is returned as its single transform."""
    if not os.path.isfile(path):
        raise FusionInputError(f"{path}: transform file not found")
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as err:
        raise FusionInputError(f"{path}: not a readable ITK transform file ({str(err).splitlines()[-1]})") from None
    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        if composite.GetNumberOfTransforms() == 1:
            return composite.GetNthTransform(0)
    return transform


def rigid_error(estimate: sitk.Transform, truth: sitk.Transform, at: Sequence[float]) -> Tuple[float, float]:
    """(rotation error in degrees, translation error in mm at point ``at``) between two linear transforms."""
    m_est, _ = affine_parts(estimate)
    m_true, _ = affine_parts(truth)
    relative = m_est @ m_true.T
    if relative.shape == (2, 2):
        angle = abs(np.degrees(np.arctan2(relative[1, 0], relative[0, 0])))
    else:
        angle = np.degrees(np.arccos(np.clip((np.trace(relative) - 1.0) / 2.0, -1.0, 1.0)))
    at = tuple(float(v) for v in at)
    shift = np.linalg.norm(np.array(estimate.TransformPoint(at)) - np.array(truth.TransformPoint(at)))
    return float(angle), float(shift)


def target_errors(estimate: sitk.Transform, truth: sitk.Transform, points: np.ndarray) -> np.ndarray:
    """Target registration errors (mm), one per point of ``points`` (N, D), between two transforms."""
    return np.array([np.linalg.norm(np.array(estimate.TransformPoint(tuple(map(float, p))))
                                    - np.array(truth.TransformPoint(tuple(map(float, p))))) for p in points])
