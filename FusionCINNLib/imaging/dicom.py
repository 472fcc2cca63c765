"""Reading DICOM, refusing what GDCM/ITK would silently get wrong or choke on.

- GDCM leaves unreadable (truncated, corrupt) files out of a series without a word, and ITK then
  stacks the remaining slices as if evenly spaced. So every file in a series folder must belong to
  the one series (hidden files, DICOMDIR and text sidecars excepted), and the slice positions along
  the slice normal must be evenly spaced (within 10 % of the median step).
- GDCM allocates (and zeroes) whatever an element's length field says, even gigabytes for a 500-byte
  file with one damaged length. So before GDCM sees a file with the DICM signature, its elements are
  walked and every defined length must fit in the bytes left (``check_element_lengths``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import struct

import numpy as np
import SimpleITK as sitk

from ..errors import FusionInputError
from .native_messages import last_message, native_stderr

IGNORED_NAMES = ("dicomdir",)
SIDECAR_SUFFIXES = (".txt", ".json", ".xml", ".md", ".csv", ".pdf", ".htm", ".html", ".ini", ".log")
SPACING_TOLERANCE = 0.1
MAX_TILT_DEGREES = 0.5
"""Slices stacked more than this off their normal (gantry tilt) are refused."""
SHORT_VRS = (b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL",
             b"SS", b"ST", b"TM", b"UI", b"UL", b"US")
UNDEFINED = 0xFFFFFFFF
IMPLICIT_LITTLE, EXPLICIT_BIG, DEFLATED = "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"
PIXEL_DATA, ITEM, SEQUENCE_END = (0x7FE0, 0x0010), (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)


def _element_header(data: bytes, pos: int, explicit: bool, order: str):
    """(group, element, VR or b'', length, header bytes) of the element at ``pos``; None at the end.

    An explicit-VR element without a valid VR is read as implicit VR, and one with an unknown VR as
    having a 4-byte length (PS3.5 7.1.2), as GDCM does."""
    if pos + 8 > len(data):
        return None
    group, element = struct.unpack(order + "HH", data[pos:pos + 4])
    vr = data[pos + 4:pos + 6]
    if group == 0xFFFE or not explicit or not (vr.isalpha() and vr.isupper()):
        return group, element, b"", struct.unpack(order + "I", data[pos + 4:pos + 8])[0], 8
    if vr in SHORT_VRS:
        return group, element, vr, struct.unpack(order + "H", data[pos + 6:pos + 8])[0], 8
    if pos + 12 > len(data):
        return None
    return group, element, vr, struct.unpack(order + "I", data[pos + 8:pos + 12])[0], 12


def check_element_lengths(path: Path) -> None:
    """FusionInputError when an element of the DICOM file ``path`` declares more bytes than the file has left.

    Files without the DICM signature and deflated data sets are left to GDCM."""
    with open(path, "rb") as handle:
        if handle.read(132)[128:] != b"DICM":
            return
        handle.seek(0)
        data = handle.read()
    pos, explicit, order, syntax, encapsulated = 132, True, "<", "", False
    while True:
        parsed = _element_header(data, pos, explicit, order)
        if parsed is None:
            return
        group, element, vr, length, header = parsed
        if group != 0x0002 and pos > 132 and syntax is not None:
            if syntax == DEFLATED:
                return
            explicit, order, syntax = syntax != IMPLICIT_LITTLE, ">" if syntax == EXPLICIT_BIG else "<", None
            continue
        left = len(data) - pos - header
        if length != UNDEFINED and length > left:
            raise FusionInputError(f"{path}: damaged DICOM: element ({group:04X},{element:04X}) declares {length} "
                                   f"bytes but only {max(0, left)} are left in the file")
        if (group, element) == (0x0002, 0x0010):
            syntax = data[pos + header:pos + header + length].rstrip(b"\0 ").decode("ascii", "replace")
        if (group, element) == PIXEL_DATA and length == UNDEFINED:
            encapsulated = True
        elif (group, element) == SEQUENCE_END:
            encapsulated = False
        descend = length == UNDEFINED or vr == b"SQ" or ((group, element) == ITEM and not encapsulated)
        pos += header + (0 if descend else length)


def _candidate_files(folder: Path) -> List[Path]:
    return [p for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name.lower() not in IGNORED_NAMES
            and p.suffix.lower() not in SIDECAR_SUFFIXES]


def _check_every_file_used(folder: Path, files: Sequence[str]) -> None:
    """Every candidate file is in the series (what GDCM could not parse is left out of it)."""
    used = {Path(f).name for f in files}
    left_out = [p for p in _candidate_files(folder) if p.name not in used]
    if left_out:
        total = len(used) + len(left_out)
        raise FusionInputError(f"{left_out[0]}: unreadable or not part of the DICOM series in {folder} "
                               f"({len(left_out)} of {total} files left out); repair or remove it")


def _floats(text: str) -> List[float]:
    return [float(v) for v in text.replace(" ", "").split("\\") if v]


def _check_not_tilted(positions: np.ndarray, normal: np.ndarray, folder: Path) -> None:
    """FusionInputError when the slices (positions (N, 3), LPS mm) are stacked obliquely to their normal:
    a gantry-tilted series, which ITK would read as a rectangular grid, dropping the shear (the last
    slice ends up tens of mm from where its ImagePositionPatient puts it)."""
    span = positions[-1] - positions[0]
    length = float(np.linalg.norm(span))
    if length == 0:
        return
    angle = float(np.degrees(np.arccos(np.clip(abs(span @ normal) / length, 0.0, 1.0))))
    if angle > MAX_TILT_DEGREES:
        raise FusionInputError(f"{folder}: gantry-tilted series (slices stacked {angle:.1f} degrees off their normal); "
                               "resample it to a rectangular grid first (e.g. Slicer's DICOM import regularises "
                               "tilted series)")


def _check_even_spacing(reader: sitk.ImageSeriesReader, files: Sequence[str], folder: Path) -> None:
    try:
        orientation = _floats(reader.GetMetaData(0, "0020|0037"))
        positions = np.array([_floats(reader.GetMetaData(i, "0020|0032")) for i in range(len(files))])
    except (RuntimeError, ValueError):
        return
    if len(files) < 3 or len(orientation) != 6 or positions.shape != (len(files), 3):
        return
    normal = np.cross(orientation[:3], orientation[3:])
    _check_not_tilted(positions, normal, folder)
    steps = np.abs(np.diff(positions @ normal))
    median = float(np.median(steps))
    worst = int(np.argmax(np.abs(steps - median)))
    if median <= 0 or abs(steps[worst] - median) > SPACING_TOLERANCE * median:
        raise FusionInputError(f"{folder}: slices are unevenly spaced ({steps.min():.2f} to {steps.max():.2f} mm "
                               f"apart, near {Path(files[worst + 1]).name}); a slice is missing or duplicated")


def read_dicom_series(folder: Path) -> sitk.Image:
    """The one DICOM series in ``folder`` as a SimpleITK image (FusionInputError naming the problem)."""
    for path in _candidate_files(folder):
        check_element_lengths(path)
    reader = sitk.ImageSeriesReader()
    with native_stderr():
        series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        count = len(_candidate_files(folder))
        raise FusionInputError(f"{folder}: folder holds no readable DICOM series ({count} files, none DICOM)")
    if len(series) > 1:
        raise FusionInputError(f"{folder}: folder holds {len(series)} DICOM series; put one series per folder")
    with native_stderr():
        files = reader.GetGDCMSeriesFileNames(str(folder), series[0])
    _check_every_file_used(folder, files)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = _execute(reader, folder)
    _check_even_spacing(reader, files, folder)
    if len(set(_rescales(reader, len(files)))) > 1:
        reader.SetOutputPixelType(sitk.sitkFloat32)
        image = _execute(reader, folder)
    return image


def _execute(reader: sitk.ImageSeriesReader, folder: Path) -> sitk.Image:
    """Read the series; ITK's failure becomes a one-line FusionInputError naming ``folder``."""
    with native_stderr() as messages:
        try:
            return reader.Execute()
        except (RuntimeError, MemoryError) as err:
            detail = last_message(messages) or str(err).strip().splitlines()[-1][:200]
            raise FusionInputError(f"{folder}: unreadable DICOM series ({detail})") from None


def _rescales(reader: sitk.ImageSeriesReader, count: int) -> List[Tuple[str, str]]:
    """(RescaleSlope, RescaleIntercept) text of each slice ('' when absent).

    ITK gives the series the pixel type the first slice's rescale needs: with slope 1 and intercept 0
    there, a PET whose later slices have other slopes is read as uint16 and its values above 65535 wrap.
    So a series whose slices are rescaled differently is read again as float32."""
    def tag(index: int, key: str) -> str:
        return reader.GetMetaData(index, key).strip() if reader.HasMetaDataKey(index, key) else ""
    return [(tag(i, "0028|1053"), tag(i, "0028|1052")) for i in range(count)]
