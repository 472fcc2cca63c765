"""Write the head phantom to disk: NIfTI images and a JSON file with the ground truth.

``phantom.json`` documents its own conventions (see ``CONVENTION``); in short, all points are
LPS mm and ``transforms[m]`` maps CT physical points to modality ``m`` physical points.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np
import SimpleITK as sitk

from ..atomic import write_json
from ..errors import FusionRuntimeError
from ..imaging.image_io import write_image
from ..geometry.transforms import affine_parts
from .head_phantom import MODALITIES, HeadPhantom, make_head_phantom

PathLike = Union[str, os.PathLike]

FORMAT = "fusioncinn-head-phantom/1"

CONVENTION = (
    "All coordinates are physical LPS millimetres (x: patient left, y: posterior, z: superior), as in "
    "ITK/SimpleITK and the NIfTI files once read by ITK. The anatomy frame is the CT's physical space. "
    "transforms[m] maps a point p_ct of the CT's physical space to the physical point p_m where the same "
    "anatomy lies in modality m: p_m = matrix @ p_ct + offset. It is therefore the ITK resampling transform "
    "(the ground truth) of a registration with the CT as reference (fixed) and m as moving. For reference r "
    "and moving m the ground truth is transforms[m] composed with the inverse of transforms[r]. "
    "itk_euler3d gives the same transform as SimpleITK Euler3DTransform(center, angle_x, angle_y, angle_z, "
    "translation) (radians, ITK's default Z-X-Y rotation order: R = Rz @ Rx @ Ry). "
    "landmarks.points_mm[m] holds the same anatomical points in modality m's physical space.")

UNITS = {"ct": "Hounsfield units (int16)", "mri": "T1-weighted, arbitrary units (int16)",
         "pet": "FDG uptake, SUV-like units (float32)"}


def _image_info(image: sitk.Image, file_name: str, modality: str) -> Dict[str, Any]:
    return {"file": file_name, "units": UNITS[modality], "size": list(image.GetSize()),
            "spacing_mm": list(image.GetSpacing()), "origin_mm": list(image.GetOrigin()),
            "direction": list(image.GetDirection()), "pixel_type": image.GetPixelIDTypeAsString()}


def _transform_info(transform: sitk.Euler3DTransform) -> Dict[str, Any]:
    matrix, offset = affine_parts(transform)
    angle = float(np.degrees(np.arccos(np.clip((np.trace(matrix) - 1.0) / 2.0, -1.0, 1.0))))
    return {"matrix": matrix.tolist(), "offset_mm": offset.tolist(), "rotation_deg": angle,
            "itk_euler3d": {"center": list(transform.GetCenter()),
                            "angles_rad": [transform.GetAngleX(), transform.GetAngleY(), transform.GetAngleZ()],
                            "translation": list(transform.GetTranslation())}}


def phantom_description(phantom: HeadPhantom, files: Dict[str, str]) -> Dict[str, Any]:
    """The JSON-ready description of ``phantom``: images, ground-truth transforms and landmarks."""
    return {
        "format": FORMAT,
        "seed": phantom.seed,
        "convention": CONVENTION,
        "images": {m: _image_info(phantom.image(m), files[m], m) for m in MODALITIES},
        "transforms": {m: _transform_info(phantom.transforms[m]) for m in MODALITIES},
        "landmarks": {"names": list(phantom.landmark_names),
                      "points_mm": {m: phantom.landmarks_in(m).tolist() for m in MODALITIES}},
    }


def write_head_phantom(out_dir: PathLike, seed: int = 0, **options: Any) -> Dict[str, Path]:
    """Make the phantom and write it with :func:`save_head_phantom`.

    ``options`` go to ``make_head_phantom`` (sizes, spacings, misalignment)."""
    return save_head_phantom(make_head_phantom(seed, **options), out_dir)


def save_head_phantom(phantom: HeadPhantom, out_dir: PathLike) -> Dict[str, Path]:
    """Write ct.nii.gz, mri.nii.gz, pet.nii.gz and phantom.json of ``phantom`` into ``out_dir``.

    The folder is created if needed; each file is written atomically. Returns the paths by key
    "ct", "mri", "pet", "json".
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FusionRuntimeError(f"{folder}: cannot create the output folder ({err.strerror})") from None
    files = {m: f"{m}.nii.gz" for m in MODALITIES}
    paths: Dict[str, Path] = {}
    for modality in MODALITIES:
        paths[modality] = folder / files[modality]
        write_image(phantom.image(modality), paths[modality])
    paths["json"] = folder / "phantom.json"
    write_json(phantom_description(phantom, files), paths["json"])
    return paths
