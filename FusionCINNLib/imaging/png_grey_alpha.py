"""Grey+alpha PNG (colour type 4), which SimpleITK cannot read ("Unknown PixelType"), decoded here.

The file's chunks have been checked by ``file_checks.check_png_chunks``. The IDAT data is inflated and
unfiltered (PNG filters 0-4, non-interlaced, 8 or 16 bits); the grey channel is kept and the alpha
channel dropped, as for every picture with alpha. Interlaced files are refused.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import List

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError
from ..memory import require_memory
from .file_checks import PNG_SIGNATURE, check_declared_size

GREY_ALPHA = 4


def is_grey_alpha_png(path: Path) -> bool:
    """True when ``path`` is a PNG whose header declares grey+alpha pixels."""
    with open(path, "rb") as handle:
        head = handle.read(33)
    return len(head) == 33 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR" and head[25] == GREY_ALPHA


def _chunks(data: bytes) -> List[tuple]:
    """(type, payload) of every chunk of a PNG byte string."""
    found, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        found.append((kind, data[position + 8:position + 8 + length]))
        position += 12 + length
    return found


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    to_left, to_up, to_corner = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    if to_left <= to_up and to_left <= to_corner:
        return left
    return up if to_up <= to_corner else corner


def _unfilter(raw: bytes, height: int, stride: int, bpp: int, path: Path) -> bytearray:
    """The image bytes (height x stride) of inflated PNG scanlines (a filter byte before each row)."""
    if len(raw) < height * (stride + 1):
        raise FusionInputError(f"{path}: corrupt or truncated PNG file (too little pixel data)")
    out = bytearray(height * stride)
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + previous[x]) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + ((left + previous[x]) >> 1)) & 0xFF
            elif kind == 4:
                line[x] = (line[x] + _paeth(left, previous[x], corner)) & 0xFF
            elif kind != 0:
                raise FusionInputError(f"{path}: corrupt PNG file (unknown filter type {kind} in row {row})")
        out[row * stride:(row + 1) * stride] = line
        previous = line
    return out


def read_grey_alpha_png(path: Path) -> sitk.Image:
    """The grey channel of a grey+alpha PNG as a 2D SimpleITK image (uint8 or uint16)."""
    chunks = _chunks(path.read_bytes())
    width, height, depth, _, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth not in (8, 16):
        raise FusionInputError(f"{path}: grey+alpha PNG with {depth}-bit samples is not valid")
    if interlace:
        raise FusionInputError(f"{path}: interlaced grey+alpha PNG is not supported; save it without interlacing")
    if width == 0 or height == 0:
        raise FusionInputError(f"{path}: image has no voxels (size {(width, height)})")
    try:
        raw = zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
    except zlib.error as err:
        raise FusionInputError(f"{path}: corrupt PNG file ({err})") from None
    sample = depth // 8
    declared = width * height * 2 * sample
    check_declared_size(path, ".png", declared)
    require_memory(4 * declared, str(path), "it is too large to load on this machine; crop or resample it first")
    pixels = _unfilter(raw, height, width * 2 * sample, 2 * sample, path)
    values = np.frombuffer(bytes(pixels), ">u2" if sample == 2 else np.uint8).reshape(height, width, 2)
    return sitk.GetImageFromArray(np.ascontiguousarray(values[..., 0]).astype(np.uint16 if sample == 2 else np.uint8))
