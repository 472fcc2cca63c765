"""A digital head phantom: one analytic head seen by CT, T1 MRI and FDG PET on different grids.

Frames and transforms (all physical coordinates are LPS millimetres):

- The *anatomy frame* is the CT's physical space; the head centre is at (0, 0, 0).
- ``transforms[m]`` maps a point of the CT's physical space to the physical point where the
  same anatomy lies in modality ``m``: ``p_m = T_m(p_ct)``. This is the ITK resampling
  convention, so ``transforms[m]`` is the ground truth of a registration with the CT as
  reference (fixed) and ``m`` as moving. ``transforms["ct"]`` is the identity.
- Each modality has its own size, spacing and direction (the MRI is oblique); its field of
  view is centred on a modality-specific point of the head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError
from ..geometry.transforms import affine_parts
from .anatomy import INTENSITY, HeadAnatomy, make_anatomy, paint_slab

MODALITIES = ("ct", "mri", "pet")

MRI_DIRECTION_DEG = (14.0, -6.0)
"""The MRI's oblique direction: rotation about L (x) then about S (z), degrees."""

PET_FWHM_MM = 6.0
"""PET resolution (Gaussian FWHM), mm."""

_FOV_CENTRE_MM = {"ct": (0.0, 4.0, 6.0), "mri": (0.0, -4.0, 8.0), "pet": (0.0, 0.0, 2.0)}
_SLAB_VOXELS = 4_000_000


@dataclass
class HeadPhantom:
    """The phantom's images, ground-truth transforms and landmarks.

    ``ct`` is int16 HU, ``mri`` int16 (T1, arbitrary units), ``pet`` float32 (SUV-like).
    ``transforms[m]`` maps CT physical points to modality ``m`` physical points (module doc).
    ``landmarks`` is (N, 3), LPS mm in the CT's physical space, named by ``landmark_names``.
    """

    ct: sitk.Image
    mri: sitk.Image
    pet: sitk.Image
    transforms: Dict[str, sitk.Euler3DTransform]
    landmarks: np.ndarray
    landmark_names: List[str]
    seed: int
    seconds: float = field(default=0.0)

    def image(self, modality: str) -> sitk.Image:
        """The image of ``modality`` ("ct", "mri" or "pet")."""
        _check_modality(modality)
        return getattr(self, modality)

    def landmarks_in(self, modality: str) -> np.ndarray:
        """The landmarks, (N, 3) LPS mm, in ``modality``'s physical space."""
        _check_modality(modality)
        transform = self.transforms[modality]
        return np.array([transform.TransformPoint(tuple(p)) for p in self.landmarks], dtype=np.float64)

    def ground_truth(self, reference: str, moving: str) -> sitk.Euler3DTransform:
        """The true registration transform: maps ``reference`` physical points to ``moving`` physical points."""
        _check_modality(reference)
        _check_modality(moving)
        ref_matrix, ref_offset = affine_parts(self.transforms[reference])
        mov_matrix, mov_offset = affine_parts(self.transforms[moving])
        inverse = ref_matrix.T
        matrix = mov_matrix @ inverse
        offset = mov_offset - matrix @ ref_offset
        result = sitk.Euler3DTransform()
        result.SetMatrix(tuple(matrix.ravel()), 1e-8)
        result.SetTranslation(tuple(offset))
        return result


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise FusionInputError(f"unknown phantom modality {modality!r}; expected one of {', '.join(MODALITIES)}")


def _rotation(axis: int, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _misalignments(seed: int, enabled: bool) -> Dict[str, sitk.Euler3DTransform]:
    """Rigid CT->modality transforms: 1.5-4 degrees about each axis and 1.5-5 mm along each, signs random."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    transforms = {"ct": sitk.Euler3DTransform()}
    for modality in ("mri", "pet"):
        angles = np.deg2rad(rng.uniform(1.5, 4.0, 3)) * rng.choice([-1.0, 1.0], 3)
        shifts = rng.uniform(1.5, 5.0, 3) * rng.choice([-1.0, 1.0], 3)
        if not enabled:
            angles, shifts = np.zeros(3), np.zeros(3)
        transforms[modality] = sitk.Euler3DTransform((0.0, 0.0, 0.0), *angles, tuple(shifts))
    return transforms


def _grid(size: Sequence[int], spacing: Sequence[float], direction: np.ndarray,
          physical_centre: np.ndarray) -> Tuple[sitk.Image, List[int]]:
    """A 1-voxel image carrying the geometry of a grid centred on ``physical_centre`` (LPS mm), and its size."""
    size = [int(n) for n in size]
    spacing = [float(s) for s in spacing]
    if len(size) != 3 or len(spacing) != 3 or min(size) < 1 or min(spacing) <= 0:
        raise FusionInputError(f"phantom grid needs 3 positive sizes and spacings, got {size} and {spacing}")
    half = direction @ (np.asarray(spacing) * (np.asarray(size) - 1) / 2.0)
    image = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetDirection(tuple(direction.ravel()))
    image.SetOrigin(tuple(physical_centre - half))
    return image, size


def _index_to_anatomy(header: sitk.Image, to_modality: sitk.Euler3DTransform) -> np.ndarray:
    """3x4 matrix mapping a voxel index (i, j, k, 1) of ``header`` to anatomy-frame mm."""
    matrix, offset = affine_parts(to_modality)
    index_to_physical = np.array(header.GetDirection()).reshape(3, 3) @ np.diag(header.GetSpacing())
    inverse = matrix.T
    return np.hstack([inverse @ index_to_physical, (inverse @ (np.array(header.GetOrigin()) - offset))[:, None]])


def _render(anatomy: HeadAnatomy, modality: str, header: sitk.Image, size: Sequence[int],
            to_modality: sitk.Euler3DTransform, rng: np.random.Generator, dtype: type) -> np.ndarray:
    """Paint ``modality`` slab by slab, add its noise model and return a (k, j, i) array of ``dtype``."""
    mapping = _index_to_anatomy(header, to_modality)
    out = np.empty((size[2], size[1], size[0]), dtype=dtype)
    step = max(1, _SLAB_VOXELS // (size[0] * size[1]))
    bias = _bias_field(size, rng) if modality == "mri" else None
    for k0 in range(0, size[2], step):
        k1 = min(size[2], k0 + step)
        slab = paint_slab(anatomy, modality, mapping, size, (k0, k1))
        if modality == "ct":
            slab += rng.standard_normal(slab.shape, dtype=np.float32) * np.float32(6.0)
            np.clip(slab, -1024.0, 3071.0, out=slab)
            np.rint(slab, out=slab)
        elif modality == "mri":
            slab *= bias[0][k0:k1, None, None] * bias[1][None, :, None] * bias[2][None, None, :]
            real = slab + rng.standard_normal(slab.shape, dtype=np.float32) * np.float32(12.0)
            imaginary = rng.standard_normal(slab.shape, dtype=np.float32) * np.float32(12.0)
            slab = np.rint(np.sqrt(real * real + imaginary * imaginary))
        out[k0:k1] = slab
    return out


def _bias_field(size: Sequence[int], rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth separable MRI gain of about +-5 %, as (k, j, i) factors."""
    phases = rng.uniform(0.0, 2.0 * np.pi, 3)
    factors = [(1.0 + 0.05 * np.cos(np.linspace(0.0, np.pi, n) + phase)).astype(np.float32)
               for n, phase in zip(size, phases)]
    return factors[2], factors[1], factors[0]


def _to_image(array: np.ndarray, header: sitk.Image) -> sitk.Image:
    """Wrap a (k, j, i) array with the geometry of ``header``."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(header.GetSpacing())
    image.SetOrigin(header.GetOrigin())
    image.SetDirection(header.GetDirection())
    return image


def _pet_finish(pet: sitk.Image, rng: np.random.Generator) -> sitk.Image:
    """Blur to PET resolution (Gaussian, ``PET_FWHM_MM``) and add count-like noise; values stay >= 0."""
    sigma = PET_FWHM_MM / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    blurred = sitk.SmoothingRecursiveGaussian(pet, sigma)
    array = sitk.GetArrayFromImage(blurred)
    noise = rng.standard_normal(array.shape, dtype=np.float32)
    array = array + noise * (np.float32(0.03) + np.float32(0.2) * np.sqrt(np.maximum(array, 0.0)))
    result = sitk.GetImageFromArray(np.maximum(array, 0.0).astype(np.float32))
    result.CopyInformation(pet)
    return result


def make_head_phantom(seed: int = 0, *,
                      ct_size: Sequence[int] = (256, 256, 80),
                      ct_spacing: Sequence[float] = (0.9, 0.9, 2.0),
                      mri_size: Sequence[int] = (192, 224, 176),
                      mri_spacing: Sequence[float] = (1.0, 1.0, 1.0),
                      pet_size: Sequence[int] = (104, 104, 64),
                      pet_spacing: Sequence[float] = (2.5, 2.5, 3.0),
                      misalignment: bool = True) -> HeadPhantom:
    """Make the phantom in memory; deterministic for a given seed and sizes.

    Sizes are (i, j, k) voxel counts, spacings mm. The CT (int16 HU) has an axial identity
    direction, the MRI (int16) an oblique one (``MRI_DIRECTION_DEG``), the PET (float32) an
    axial one. With ``misalignment`` the MRI and PET are rigidly moved by a few degrees and mm.
    """
    start = time.perf_counter()
    anatomy = make_anatomy(seed)
    transforms = _misalignments(seed, misalignment)
    directions = {"ct": np.eye(3), "pet": np.eye(3),
                  "mri": _rotation(2, MRI_DIRECTION_DEG[1]) @ _rotation(0, MRI_DIRECTION_DEG[0])}
    geometry = {"ct": (ct_size, ct_spacing), "mri": (mri_size, mri_spacing), "pet": (pet_size, pet_spacing)}
    dtypes = {"ct": np.int16, "mri": np.int16, "pet": np.float32}
    images: Dict[str, sitk.Image] = {}
    for number, modality in enumerate(MODALITIES):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 3, number]))
        centre = np.array(transforms[modality].TransformPoint(_FOV_CENTRE_MM[modality]))
        header, size = _grid(*geometry[modality], directions[modality], centre)
        array = _render(anatomy, modality, header, size, transforms[modality], rng, dtypes[modality])
        images[modality] = _to_image(array, header)
        del array
        if modality == "pet":
            images[modality] = _pet_finish(images[modality], rng)
    return HeadPhantom(ct=images["ct"], mri=images["mri"], pet=images["pet"], transforms=transforms,
                       landmarks=anatomy.landmarks.copy(), landmark_names=list(anatomy.landmark_names),
                       seed=seed, seconds=time.perf_counter() - start)


__all__ = ["HeadPhantom", "MODALITIES", "INTENSITY", "make_head_phantom"]
