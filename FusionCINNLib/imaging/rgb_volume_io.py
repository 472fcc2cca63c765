"""Writing colour (RGB, 8 bits per channel) volumes that viewers show in colour.

- NIfTI (.nii, .nii.gz): datatype RGB24 (code 128, 24 bits per voxel, R G B interleaved), the NIfTI-1
  colour type that Slicer, ITK-SNAP, FSLeyes, MRIcroGL and nibabel read as colour. SimpleITK would write
  a 3-component vector (intent 1007, channels stored one after the other), which some viewers show as
  three volumes; so the header comes from SimpleITK (its geometry: qform and sform) and is retyped.
- NRRD, MetaImage (.nrrd, .nhdr, .mha, .mhd): SimpleITK's 3-component unsigned char ("kinds: vector ...").
SimpleITK reads both back as a 3-component uint8 image with the same geometry.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_output
from ..errors import FusionInputError, FusionRuntimeError
from .file_checks import NIFTI_EXTENSIONS, NIFTI_HEADERS, check_nifti_complete, nifti_layout
from .file_names import VOLUME_EXTENSIONS, extension
from .image_io import write_image
from .native_messages import native_stderr
from .parallel_gzip import gzip_file

PathLike = Union[str, os.PathLike]
NIFTI_RGB24, RGB24_BITS = 128, 24
NIFTI1 = NIFTI_HEADERS[348]
"""Where the NIfTI-1 header's fields are (the reader in file_checks uses the same table)."""
NIFTI1_MAX_SIDE = 32767
WRITE_CHUNK_BYTES = 1 << 24


def check_rgb_volume(image: sitk.Image) -> None:
    """FusionInputError unless ``image`` is a 3D image of 3 unsigned 8-bit components."""
    if (image.GetDimension() != 3 or image.GetPixelID() != sitk.sitkVectorUInt8
            or image.GetNumberOfComponentsPerPixel() != 3):
        raise FusionInputError(f"a colour volume must be 3D RGB of 8 bits per channel, got {image.GetDimension()}D "
                               f"{image.GetPixelIDTypeAsString()} with {image.GetNumberOfComponentsPerPixel()} "
                               "components")


def _rgb24_header(image: sitk.Image) -> bytes:
    """A NIfTI-1 header of ``image``'s geometry and size, typed RGB24: SimpleITK writes one voxel of the same
    spacing, origin and direction (qform and sform do not depend on the size), then dim and type are set."""
    size = image.GetSize()
    if max(size) > NIFTI1_MAX_SIDE:
        raise FusionInputError(f"colour volume of size {size} is too large for a NIfTI-1 file; write .nrrd")
    one = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    one.SetSpacing(image.GetSpacing())
    one.SetOrigin(image.GetOrigin())
    one.SetDirection(image.GetDirection())
    with tempfile.TemporaryDirectory(prefix="fusioncinn-rgb-") as folder:
        path = Path(folder) / "header.nii"
        with native_stderr():
            sitk.WriteImage(one, str(path), False)
        header = bytearray(path.read_bytes())
    if struct.unpack_from("<i", header, 0)[0] != 348:
        raise FusionRuntimeError("SimpleITK did not write a little-endian NIfTI-1 header")
    offset = nifti_layout(bytes(header)).offset
    struct.pack_into("<4h", header, NIFTI1.dims_at, 3, *size)
    struct.pack_into("<2h", header, NIFTI1.datatype_at, NIFTI_RGB24, RGB24_BITS)
    return bytes(header[:offset])


def _write_rgb24(image: sitk.Image, tmp: Path, compressed: bool) -> None:
    header = _rgb24_header(image)
    voxels = np.ascontiguousarray(sitk.GetArrayViewFromImage(image)).reshape(-1)
    raw = tmp.with_name(tmp.name + ".raw") if compressed else tmp
    try:
        with open(raw, "wb") as handle:
            handle.write(header)
            for start in range(0, voxels.size, WRITE_CHUNK_BYTES):
                handle.write(voxels[start:start + WRITE_CHUNK_BYTES].tobytes())
        if compressed:
            gzip_file(raw, tmp)
    finally:
        if compressed:
            raw.unlink(missing_ok=True)
    check_nifti_complete(tmp)


def write_rgb_volume(image: sitk.Image, path: PathLike) -> Path:
    """Write a 3-component uint8 volume atomically as a colour image (module doc); returns ``path``."""
    check_rgb_volume(image)
    path = Path(path)
    ext = extension(path)
    if ext not in VOLUME_EXTENSIONS:
        raise FusionInputError(f"{path}: unsupported colour volume extension; use one of "
                               f"{', '.join(VOLUME_EXTENSIONS)}")
    if ext not in NIFTI_EXTENSIONS:
        return write_image(image, path)
    with atomic_output(path) as tmp:
        _write_rgb24(image, tmp, compressed=ext == ".nii.gz")
    return path
