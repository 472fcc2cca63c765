"""Geometry: registration of one volume to another, resampling onto a reference grid, transform files.

Physical coordinates are LPS millimetres (SimpleITK/ITK). A registration transform maps
reference points to moving points (the ITK resampling convention).
"""

from .registration import INITIALISATIONS, RegistrationResult, align_to_reference, register_volumes
from .resampling import MODALITIES, background_value, resample_to_reference, same_grid
from .transforms import affine_parts, load_transform, rigid_error, save_transform, target_errors

__all__ = [
    "INITIALISATIONS", "MODALITIES", "RegistrationResult", "affine_parts", "align_to_reference",
    "background_value", "load_transform", "register_volumes", "resample_to_reference", "rigid_error",
    "same_grid", "save_transform", "target_errors",
]
