"""Analytic head anatomy of the digital phantom, evaluated on blocks of physical points.

Coordinates are in the *anatomy frame*: LPS millimetres (x to the patient's left, y
posterior, z superior) with the head centre at the origin. The phantom's CT lies in this
frame (see ``head_phantom``). Every structure is a soft-edged shape: a voxel's membership
falls linearly from 1 to 0 across the voxel's extent along the surface normal (a
partial-volume model: thick slices blur edges across slices, not within them), and tissues
are painted from the outside in, so that inner structures cover outer ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

INTENSITY: Dict[str, Dict[str, float]] = {
    # Hounsfield units.
    "ct": {"air": -1000.0, "scalp": 35.0, "bone": 1300.0, "marrow": 450.0, "csf": 8.0,
           "grey": 40.0, "white": 27.0, "deep_grey": 38.0, "eye": 12.0,
           "calcification": 800.0, "lesion": 22.0},
    # T1-weighted, arbitrary units: fat-rich scalp and marrow bright, bone and CSF dark.
    "mri": {"air": 0.0, "scalp": 780.0, "bone": 45.0, "marrow": 560.0, "csf": 110.0,
            "grey": 430.0, "white": 690.0, "deep_grey": 480.0, "eye": 90.0,
            "calcification": 180.0, "lesion": 520.0},
    # FDG uptake in SUV-like units: grey matter above white matter, a hot lesion.
    "pet": {"air": 0.0, "scalp": 0.9, "bone": 0.4, "marrow": 1.2, "csf": 0.25,
            "grey": 8.0, "white": 2.6, "deep_grey": 9.0, "eye": 0.6,
            "calcification": 2.0, "lesion": 16.0},
}
"""Noise-free value of each tissue in each modality: ``INTENSITY[modality][tissue]``."""

HEAD_AXES_MM = (74.0, 94.0, 82.0)
"""Semi-axes (L-R, A-P, S-I) of the scalp surface, mm. Inner shells are scaled copies."""

# Shell radii in units of the scalp ellipsoid (rho = 1 on the scalp surface).
_SKULL_OUTER = 0.932
_DIPLOE_OUTER = 0.905
_DIPLOE_INNER = 0.865
_SKULL_INNER = 0.838
_PIAL = 0.797
_WHITE = 0.735
_WHITE_FOLD = 0.030
_SULCUS_DEPTH = 0.050


def _rotation_z(degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Ellipsoid:
    """A solid ellipsoid: ``centre`` and ``semi_axes`` in mm, ``rotation`` (3x3) from local to anatomy axes."""

    tissue: str
    centre: Tuple[float, float, float]
    semi_axes: Tuple[float, float, float]
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (low, high corners) in the anatomy frame, mm."""
        half = np.abs(self.rotation) @ np.asarray(self.semi_axes)
        centre = np.asarray(self.centre)
        return centre - half, centre + half

    def membership(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, axes: np.ndarray) -> np.ndarray:
        """Partial-volume membership (0..1) of voxels at (x, y, z) mm; ``axes`` columns are the voxel steps (mm)."""
        r = self.rotation
        dx, dy, dz = x - self.centre[0], y - self.centre[1], z - self.centre[2]
        u = (r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz) / self.semi_axes[0]
        v = (r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz) / self.semi_axes[1]
        w = (r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz) / self.semi_axes[2]
        rho = np.sqrt(u * u + v * v + w * w)
        local = (u / self.semi_axes[0], v / self.semi_axes[1], w / self.semi_axes[2])
        gradient = [r[i, 0] * local[0] + r[i, 1] * local[1] + r[i, 2] * local[2] for i in range(3)]
        return _ramp((rho - 1.0) * rho, _normal_width(gradient, axes))


@dataclass(frozen=True)
class HeadAnatomy:
    """The phantom's structures; random details (cortical folding, lesion place) come from ``seed``."""

    seed: int
    fold_vectors: np.ndarray
    fold_frequencies: np.ndarray
    fold_phases: np.ndarray
    structures: Tuple[Ellipsoid, ...]
    landmark_names: Tuple[str, ...]
    landmarks: np.ndarray


def make_anatomy(seed: int) -> HeadAnatomy:
    """Build the anatomy for ``seed``: the same seed always gives the same head."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    vectors = rng.normal(size=(6, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    frequencies = rng.uniform(13.0, 18.0, size=6)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=6)
    jitter = rng.uniform(-1.5, 1.5, size=(2, 3))

    def at(base: Sequence[float], k: int) -> Tuple[float, float, float]:
        return tuple(float(v) for v in np.asarray(base) + jitter[k])

    structures: List[Ellipsoid] = []
    for side in (-1.0, 1.0):
        structures += [
            Ellipsoid("deep_grey", (11.0 * side, 9.0, 0.0), (8.5, 14.0, 10.0)),       # thalamus
            Ellipsoid("deep_grey", (24.0 * side, -3.0, 1.0), (5.5, 15.0, 10.0)),      # putamen
            Ellipsoid("deep_grey", (14.0 * side, -15.0, 11.0), (5.0, 9.0, 8.0)),      # caudate head
        ]
    for side in (-1.0, 1.0):
        structures.append(Ellipsoid("csf", (10.0 * side, 0.0, 16.0), (5.0, 27.0, 7.0),
                                    _rotation_z(-12.0 * side)))                        # lateral ventricle
    structures.append(Ellipsoid("csf", (0.0, 5.0, 0.0), (1.8, 12.0, 8.0)))              # third ventricle
    eyes = [Ellipsoid("eye", (32.0 * side, -76.0, -36.0), (12.0, 12.0, 12.0)) for side in (-1.0, 1.0)]
    structures += eyes
    calcification = Ellipsoid("calcification", at((1.0, 20.0, 4.0), 0), (2.5, 2.5, 2.5))
    lesion = Ellipsoid("lesion", at((-30.0, -22.0, 30.0), 1), (7.0, 7.0, 7.0))
    structures += [calcification, lesion]

    names = ["calcification", "lesion", "left_eye", "right_eye", "left_thalamus", "right_thalamus",
             "third_ventricle", "left_ventricle", "right_ventricle"]
    points = [calcification.centre, lesion.centre, eyes[1].centre, eyes[0].centre,
              structures[3].centre, structures[0].centre, (0.0, 5.0, 0.0),
              structures[7].centre, structures[6].centre]
    a, b, c = HEAD_AXES_MM
    skull = _SKULL_INNER
    for name, point in (("skull_left", (a * skull, 0.0, 0.0)), ("skull_right", (-a * skull, 0.0, 0.0)),
                        ("skull_anterior", (0.0, -b * skull, 0.0)), ("skull_posterior", (0.0, b * skull, 0.0)),
                        ("skull_vertex", (0.0, 0.0, c * skull))):
        names.append(name)
        points.append(point)
    inside = []
    while len(inside) < 12:
        p = rng.uniform(-1.0, 1.0, size=3)
        if np.linalg.norm(p) < 1.0:
            inside.append(p * np.asarray(HEAD_AXES_MM) * 0.7)
    for k, p in enumerate(inside):
        names.append(f"brain_{k:02d}")
        points.append(tuple(float(v) for v in p))
    return HeadAnatomy(seed=seed, fold_vectors=vectors, fold_frequencies=frequencies, fold_phases=phases,
                       structures=tuple(structures), landmark_names=tuple(names),
                       landmarks=np.asarray(points, dtype=np.float64))


def _ramp(distance: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Partial-volume membership: 1 inside, 0 outside, linear across ``width`` (same units) around 0."""
    return np.clip(0.5 - distance / width, 0.0, 1.0)


def _normal_width(gradient: Sequence[np.ndarray], axes: np.ndarray) -> np.ndarray:
    """Width of a voxel along the surface normal, in units of |gradient| (so distance = level / width works).

    ``gradient`` is the level function's gradient (3 arrays), ``axes`` (3x3) has the voxel steps in
    mm as columns. The width is sqrt(sum_i (gradient . axis_i)^2): the voxel size for an isotropic
    grid, the slice thickness for a surface parallel to thick slices.
    """
    squares = [(axes[0, i] * gradient[0] + axes[1, i] * gradient[1] + axes[2, i] * gradient[2]) ** 2
               for i in range(3)]
    return np.maximum(np.sqrt(squares[0] + squares[1] + squares[2]), np.float32(1e-6))


def _paint(target: np.ndarray, membership: np.ndarray, value: float) -> None:
    """target <- target + membership * (value - target), in place."""
    target += membership * (np.float32(value) - target)


def _index_box(index_to_anatomy: np.ndarray, low: np.ndarray, high: np.ndarray,
               limits: Sequence[Tuple[int, int]]) -> Tuple[slice, slice, slice]:
    """Index ranges (i, j, k slices, clipped to ``limits``) of the grid block covering an anatomy-frame box."""
    matrix, offset = index_to_anatomy[:, :3], index_to_anatomy[:, 3]
    inverse = np.linalg.inv(matrix)
    corners = np.array([[lx, ly, lz] for lx in (low[0], high[0]) for ly in (low[1], high[1])
                        for lz in (low[2], high[2])])
    indices = (corners - offset) @ inverse.T
    first = np.floor(indices.min(axis=0)).astype(int) - 1
    last = np.ceil(indices.max(axis=0)).astype(int) + 2
    return tuple(slice(max(lo, f), min(hi, l)) for (lo, hi), f, l in zip(limits, first, last))


def _coordinates(index_to_anatomy: np.ndarray, box: Tuple[slice, slice, slice]
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anatomy coordinates (x, y, z), each float32 of shape (nk, nj, ni), of the voxels in ``box`` (i, j, k slices)."""
    i = np.arange(box[0].start, box[0].stop, dtype=np.float64)
    j = np.arange(box[1].start, box[1].stop, dtype=np.float64)
    k = np.arange(box[2].start, box[2].stop, dtype=np.float64)
    out = []
    for row in index_to_anatomy:
        out.append((row[2] * k + row[3]).astype(np.float32)[:, None, None]
                   + (row[1] * j).astype(np.float32)[None, :, None]
                   + (row[0] * i).astype(np.float32)[None, None, :])
    return out[0], out[1], out[2]


def _paint_head(anatomy: HeadAnatomy, values: Dict[str, float], x: np.ndarray, y: np.ndarray, z: np.ndarray,
                axes: np.ndarray, out: np.ndarray) -> None:
    """Paint scalp, skull, CSF, folded cortex, white matter and the interhemispheric fissure.

    Shells are scaled copies of the scalp ellipsoid: level rho (1 on the scalp), gradient (u/a, v/b, w/c)/rho.
    """
    a, b, c = HEAD_AXES_MM
    u, v, w = x / a, y / b, z / c
    rho = np.sqrt(u * u + v * v + w * w)
    width = _normal_width((u / a, v / b, w / c), axes) / np.maximum(rho, np.float32(1e-6))

    def shell(radius: np.ndarray) -> np.ndarray:
        return _ramp(rho - radius, width)

    _paint(out, shell(1.0), values["scalp"])
    _paint(out, shell(_SKULL_OUTER), values["bone"])
    _paint(out, shell(_DIPLOE_OUTER), values["marrow"])
    _paint(out, shell(_DIPLOE_INNER), values["bone"])
    _paint(out, shell(_SKULL_INNER), values["csf"])

    safe = np.maximum(rho, 1e-6)
    fold = np.zeros_like(rho)
    for vec, freq, phase in zip(anatomy.fold_vectors, anatomy.fold_frequencies, anatomy.fold_phases):
        fold += np.sin((vec[0] * u + vec[1] * v + vec[2] * w) / safe * freq + phase)
    del u, v, w, safe
    fold = np.clip(fold / np.sqrt(len(anatomy.fold_phases) / 2.0), -1.0, 1.0)
    pial = _PIAL - _SULCUS_DEPTH * np.clip((-fold - 0.3) / 0.7, 0.0, 1.0)
    _paint(out, shell(pial), values["grey"])
    _paint(out, shell(_WHITE + _WHITE_FOLD * fold), values["white"])
    del fold, pial

    along = np.sqrt(np.sum(axes ** 2, axis=1))
    fissure = _ramp(np.abs(x) - 1.2, along[0]) * np.maximum(_ramp(24.0 - z, along[2]),
                                                             _ramp(45.0 - np.abs(y), along[1]))
    fissure *= shell(_PIAL)
    _paint(out, fissure, values["csf"])


def paint_slab(anatomy: HeadAnatomy, modality: str, index_to_anatomy: np.ndarray, size: Sequence[int],
               k_range: Tuple[int, int], *, _boxed: bool = True) -> np.ndarray:
    """Noise-free ``modality`` intensities of slices ``k_range`` of a grid, float32 of shape (nk, nj, ni).

    ``index_to_anatomy`` (3x4) maps a voxel index (i, j, k, 1) of the grid (``size`` = (ni, nj, nk))
    to anatomy-frame mm; its first three columns are the voxel steps, which set the partial-volume
    width. Units are those of ``INTENSITY``. Each structure is evaluated only on the index block
    covering its bounding box; ``_boxed=False`` evaluates every structure on the whole slab (the
    slow reference that tests compare against).
    """
    axes = index_to_anatomy[:, :3].astype(np.float32)
    margin = float(np.linalg.norm(axes, axis=0).max())
    values = INTENSITY[modality]
    limits = ((0, size[0]), (0, size[1]), (k_range[0], k_range[1]))
    shape = (k_range[1] - k_range[0], size[1], size[0])
    out = np.full(shape, values["air"], dtype=np.float32)

    def region(box: Tuple[slice, slice, slice]) -> Tuple[slice, slice, slice]:
        return (slice(box[2].start - k_range[0], box[2].stop - k_range[0]), box[1], box[0])

    def block(low: np.ndarray, high: np.ndarray) -> Tuple[slice, slice, slice]:
        if not _boxed:
            return tuple(slice(lo, hi) for lo, hi in limits)
        return _index_box(index_to_anatomy, low - margin, high + margin, limits)

    half = np.asarray(HEAD_AXES_MM)
    box = block(-half, half)
    if all(s.stop > s.start for s in box):
        x, y, z = _coordinates(index_to_anatomy, box)
        _paint_head(anatomy, values, x, y, z, axes, out[region(box)])
    for shape_ in anatomy.structures:
        low, high = shape_.bounds()
        box = block(low, high)
        if not all(s.stop > s.start for s in box):
            continue
        x, y, z = _coordinates(index_to_anatomy, box)
        _paint(out[region(box)], shape_.membership(x, y, z, axes), values[shape_.tissue])
    return out
