"""Which array axis of a volume is axial, coronal or sagittal, from its direction matrix (LPS), and the spacing of
the slice stacks cut along it."""

from __future__ import annotations

from typing import Tuple

import numpy as np
import SimpleITK as sitk

from ..choices import PLANES
from ..errors import FusionInputError


def slice_axis(image: sitk.Image, plane: str) -> int:
    """The NumPy axis (of the (k, j, i) array) to step along to get ``plane`` slices.

    The index axis whose direction is closest to the plane's normal is chosen, so oblique
    volumes are cut in their nearest plane."""
    if plane not in PLANES:
        raise FusionInputError(f"unknown slice plane {plane!r}; expected one of {', '.join(PLANES)}")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    index_axis = int(np.argmax(np.abs(direction[PLANES[plane], :])))
    return 2 - index_axis


def stack_spacing(image: sitk.Image, axis: int) -> Tuple[float, float, float]:
    """The (slice, row, column) spacing in mm of the slice stack ``np.moveaxis(array, axis, 0)`` of ``image``'s
    (k, j, i) array: the slice axis's spacing, then the other two in their order."""
    spacing = list(image.GetSpacing()[::-1])
    slice_spacing = spacing.pop(axis)
    return (slice_spacing, spacing[0], spacing[1])
