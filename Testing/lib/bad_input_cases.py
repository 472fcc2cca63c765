"""The bad inputs that ``fusioncinn`` must refuse cleanly: one table shared by the tests
(``test_bad_inputs.py``, in-process) and ``benchmarks/bad_inputs_table.py`` (one subprocess each).

A case builds its files in an empty work folder and returns the command line (without the
program name). Outputs go to ``work/out*``; everything else in the folder is an input.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import SimpleITK as sitk

Builder = Callable[[Path, Path], List[str]]
SHAPE = (8, 48, 56)  # k, j, i
SPACING = (0.9, 0.9, 3.0)


@dataclass(frozen=True)
class Case:
    """One row of the table: what was tried, the command, the exit code and a regex of the message."""

    label: str
    build: Builder
    code: int
    expect: str
    free_memory_mb: Optional[int] = None


# ---------------------------------------------------------------- what a run left behind

Snapshot = Dict[Path, Tuple[bytes, int]]


def snapshot(folder: Path) -> Snapshot:
    """Bytes and mtime of every input file under ``folder`` (outputs, named out*, excluded)."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.relative_to(folder).parts[0].startswith("out")}


def partials(folder: Path) -> List[Path]:
    """Temporary files of atomic writes left anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def outputs(folder: Path) -> List[Path]:
    """What a run left under out*; a training work folder (checkpoints, kept on purpose) is not output."""
    return [p for p in folder.iterdir() if p.name.startswith("out") and not p.name.endswith(".training")]


# ---------------------------------------------------------------- file makers


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: Sequence[bytes],
              palette: bytes = b"") -> bytes:
    """A PNG file written by hand (for 16-bit and palette PNGs): filter 0 on every row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", header) + (chunk(b"PLTE", palette) if palette else b"")
    body += chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + row for row in rows)))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def grey_picture(seed: int, shape=(64, 72)) -> np.ndarray:
    """An 8-bit picture: a textured block on a black background."""
    rng = np.random.default_rng(seed)
    array = np.zeros(shape, np.uint8)
    array[10:shape[0] - 10, 12:shape[1] - 12] = rng.integers(40, 255, (shape[0] - 20, shape[1] - 24))
    return array


def write_picture(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=array.ndim == 3), str(path))
    return path


def write_png16(path: Path, seed: int) -> Path:
    array = grey_picture(seed).astype(np.uint16) * 200
    path.write_bytes(png_bytes(array.shape[1], array.shape[0], 16, 0, [row.astype(">u2").tobytes() for row in array]))
    return path


def write_palette_png(path: Path, seed: int) -> Path:
    index = (grey_picture(seed) // 64).astype(np.uint8)
    palette = bytes([0, 0, 0, 200, 30, 30, 30, 200, 30, 240, 240, 90])
    path.write_bytes(png_bytes(index.shape[1], index.shape[0], 8, 3, [row.tobytes() for row in index], palette))
    return path


def write_grey_alpha_png(path: Path, seed: int) -> Path:
    grey = grey_picture(seed)
    rows = [np.stack([row, np.full_like(row, 255)], -1).tobytes() for row in grey]
    path.write_bytes(png_bytes(grey.shape[1], grey.shape[0], 8, 4, rows))
    return path


def ct_array(seed: int, shape=SHAPE) -> np.ndarray:
    """A head-like CT in HU: air -1000, soft tissue ~40, a skull shell ~1200."""
    k, j, i = np.indices(shape, dtype=np.float32)
    r = np.sqrt(((j - shape[1] / 2) / (shape[1] * 0.4)) ** 2 + ((i - shape[2] / 2) / (shape[2] * 0.4)) ** 2)
    array = np.full(shape, -1000.0, np.float32)
    array[r < 1.0] = 1200.0
    array[r < 0.85] = 40.0
    return array + np.random.default_rng(seed).normal(0, 10, shape).astype(np.float32)


def mri_array(seed: int, shape=SHAPE) -> np.ndarray:
    """A head-like MRI: background 0, tissue 200..700 in arbitrary units."""
    ct = ct_array(seed, shape)
    rng = np.random.default_rng(seed + 1)
    return np.where(ct > -500, 200 + 500 * rng.random(shape), 0).astype(np.float32)


def write_volume(path: Path, array: np.ndarray, spacing=SPACING, vector: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetSpacing(spacing[:image.GetDimension()] + (1.0,) * max(0, image.GetDimension() - 3))
    sitk.WriteImage(image, str(path))
    return path


def write_dicom_series(folder: Path, array: np.ndarray, spacing=SPACING, tilt_degrees: float = 0.0,
                       modality: str = "CT", dtype: type = np.int16) -> Path:
    """A CT-like DICOM series (one file per slice) written with SimpleITK. ``tilt_degrees``: each slice shifted
    along P by tan(tilt) x the slice spacing (a gantry-tilted series, axial orientation kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    volume = sitk.GetImageFromArray(array.astype(dtype))
    volume.SetSpacing(spacing)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125.7"
    shear = np.tan(np.radians(tilt_degrees)) * spacing[2]
    for index in range(volume.GetDepth()):
        slice_image = volume[:, :, index]
        point = np.array(volume.TransformIndexToPhysicalPoint((0, 0, index))) + (0.0, shear * index, 0.0)
        position = "\\".join(f"{v:.4f}" for v in point)
        for tag, value in (("0020|000e", uid + ".1"), ("0020|000d", uid + ".2"), ("0008|0060", modality),
                           ("0008|0018", f"{uid}.3.{index}"), ("0020|0032", position), ("0020|0013", str(index + 1)),
                           ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0018|0050", str(spacing[2]))):
            slice_image.SetMetaData(tag, value)
        if modality != "CT":
            slice_image.SetMetaData("0028|1053", "1")
            slice_image.SetMetaData("0028|1052", "0")
        writer.SetFileName(str(folder / f"slice{index:03d}.dcm"))
        writer.Execute(slice_image)
    return folder


def set_rescale_slope(path: Path, slope: str) -> Path:
    """Change the one-character RescaleSlope of a DICOM file written by ``write_dicom_series`` (implicit VR,
    value "1 ") without rescaling its stored values, as a scanner with per-slice slopes writes them."""
    data = path.read_bytes()
    at = data.index(b"\x28\x00\x53\x10\x02\x00\x00\x00") + 8
    path.write_bytes(data[:at] + slope.encode("ascii").ljust(2) + data[at + 2:])
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupt(path: Path, start: int, count: int = 16) -> Path:
    data = bytearray(path.read_bytes())
    data[start:start + count] = bytes((b ^ 0xA5) for b in data[start:start + count])
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- command lines


def fuse(a: Path, b: Path, out: Path, model: Path, pair: str = "ct-mri", *extra: str) -> List[str]:
    return ["fuse", str(a), str(b), "-o", str(out), "--pair", pair, "--model", str(model), "--device", "cpu",
            *extra]


def _mri_png(work: Path) -> Path:
    return write_picture(work / "mri.png", grey_picture(2))


def _ct_png(work: Path) -> Path:
    return write_picture(work / "ct.png", grey_picture(1))


def _volumes(work: Path, ct: Optional[np.ndarray] = None, mri: Optional[np.ndarray] = None):
    return (write_volume(work / "ct.nii.gz", ct_array(0) if ct is None else ct),
            write_volume(work / "mri.nii.gz", mri_array(1) if mri is None else mri))


def _picture_case(make_a: Callable[[Path], Path]) -> Builder:
    return lambda work, model: fuse(make_a(work), _mri_png(work), work / "out.png", model)


def _volume_a_case(make_a: Callable[[Path], Path], *extra: str) -> Builder:
    def build(work: Path, model: Path) -> List[str]:
        _, mri = _volumes(work)
        return fuse(make_a(work), mri, work / "out.nii.gz", model, "ct-mri", "--no-register", *extra)
    return build


def _volume_with(values: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], Path]:
    return lambda work: write_volume(work / "ct_bad.nii.gz", values(ct_array(0)))


def _nan(array: np.ndarray) -> np.ndarray:
    array[3, 20, 20:25] = np.nan
    return array


def _mostly_nan(array: np.ndarray) -> np.ndarray:
    array[: array.shape[0] * 3 // 4] = np.nan
    return array


def _inf(array: np.ndarray) -> np.ndarray:
    array[2, 10, 10] = np.inf
    return array


def _dicom_with(change: Callable[[Path], object]) -> Builder:
    def build(work: Path, model: Path) -> List[str]:
        series = write_dicom_series(work / "ct_series", ct_array(0))
        change(series)
        mri = write_volume(work / "mri.nii.gz", mri_array(1))
        return fuse(series, mri, work / "out.nii.gz", model)
    return build


def _patched(path: Path, at: int, value: float, add: bool = False) -> Path:
    """``path`` with the float32 at byte ``at`` of its NIfTI-1 header set to (or increased by) ``value``."""
    data = bytearray(path.read_bytes())
    struct.pack_into("<f", data, at, value + (struct.unpack_from("<f", data, at)[0] if add else 0.0))
    path.write_bytes(bytes(data))
    return path


def _sform_moved(work: Path) -> Path:
    return _patched(write_volume(work / "ct_sform.nii", ct_array(0)), 292, 20.0, add=True)  # srow_x[3]


def _pixdim_zero(work: Path) -> Path:
    return _patched(write_volume(work / "ct_pixdim.nii", ct_array(0)), 88, 0.0)  # pixdim[3]


def _one_slice_coronal(work: Path, model: Path) -> List[str]:
    ct = write_volume(work / "ct1.nii.gz", ct_array(0, (1, 48, 56)))
    mri = write_volume(work / "mri1.nii.gz", mri_array(1, (1, 48, 56)))
    return fuse(ct, mri, work / "out.nii.gz", model, "ct-mri", "--no-register", "--axis", "coronal")


def _tilted_dicom(work: Path, model: Path) -> List[str]:
    series = write_dicom_series(work / "ct_series", ct_array(0), tilt_degrees=20.0)
    return fuse(series, write_volume(work / "mri.nii.gz", mri_array(1)), work / "out.nii.gz", model)


def _batch_mismatched(work: Path, model: Path) -> List[str]:
    for name, seed in (("one.png", 1), ("two.png", 3)):
        write_picture(work / "a" / name, grey_picture(seed))
        write_picture(work / "b" / name, grey_picture(seed + 1))
    write_picture(work / "a" / "only_in_a.png", grey_picture(5))
    return fuse(work / "a", work / "b", work / "out", model)


def _two_mris(work: Path, model: Path) -> List[str]:
    first = write_volume(work / "mri_t1.nii.gz", mri_array(0))
    second = write_volume(work / "mri_t2.nii.gz", mri_array(3))
    return fuse(first, second, work / "out.nii.gz", model, "ct-mri", "--no-register")


def _swapped(work: Path, model: Path) -> List[str]:
    ct, mri = _volumes(work)
    return fuse(mri, ct, work / "out.nii.gz", model, "pet-mri", "--no-register")


def _same_file(work: Path, model: Path) -> List[str]:
    ct, _ = _volumes(work)
    return fuse(ct, ct, work / "out.nii.gz", model, "ct-mri", "--no-register")


def _far_apart_volumes(work: Path) -> Tuple[Path, Path]:
    """A CT and an MRI on another grid whose header places it 1000 mm from the CT: no overlap."""
    ct = write_volume(work / "ct.nii.gz", ct_array(0))
    image = sitk.GetImageFromArray(mri_array(1))
    image.SetSpacing((1.0, 1.0, 2.5))
    image.SetOrigin((1000.0, 0.0, 0.0))
    sitk.WriteImage(image, str(work / "mri_far.nii.gz"))
    return ct, work / "mri_far.nii.gz"


def _grids_apart_unregistered(work: Path, model: Path) -> List[str]:
    """Different grids with --register never, whose headers place them apart: nothing to resample onto."""
    ct, mri = _far_apart_volumes(work)
    return fuse(ct, mri, work / "out.nii.gz", model, "ct-mri", "--register", "never")


def _far_apart(work: Path, model: Path) -> List[str]:
    """An MRI whose header places it 1000 mm from the CT: no overlap, so no header can be trusted."""
    ct, mri = _far_apart_volumes(work)
    return fuse(ct, mri, work / "out.nii.gz", model, "ct-mri")


def _too_large(work: Path, model: Path) -> List[str]:
    shape = (24, 128, 128)
    ct = write_volume(work / "ct.nii.gz", ct_array(0, shape))
    mri = write_volume(work / "mri.nii.gz", mri_array(1, shape))
    return fuse(ct, mri, work / "out.nii.gz", model, "ct-mri", "--no-register")


def _output_is_input(work: Path, model: Path) -> List[str]:
    ct, mri = _volumes(work)
    return fuse(ct, mri, mri, model, "ct-mri", "--no-register")


def _model_with(change: Callable[[Path], None]) -> Builder:
    def build(work: Path, model: Path) -> List[str]:
        bad = work / "model"
        bad.mkdir()
        for name in ("config.json", "weights.pt"):
            (bad / name).write_bytes((model / name).read_bytes())
        change(bad)
        return fuse(_ct_png(work), _mri_png(work), work / "out.png", bad)
    return build


class RunsCode:
    """Unpickling this calls os.system('touch PWNED')."""

    def __reduce__(self):
        return os.system, ("touch PWNED",)


def _evil_weights(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["weights"].pop("sha256")
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "weights.pt").write_bytes(pickle.dumps({"layer.weight": RunsCode()}))


def _wrong_shape(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["architecture"]["hidden"] = [8, 8, 8, 8, 8]
    (folder / "config.json").write_text(json.dumps(config))


def atlas_folder(work: Path, pictures: int = 2) -> Path:
    for case in (1, 2):
        for index in range(pictures):
            name = f"{case * 1000 + index}.png"
            write_picture(work / "data" / "CT-MRI" / "a" / name, grey_picture(case * 10 + index))
            write_picture(work / "data" / "CT-MRI" / "b" / name, grey_picture(case * 10 + index + 5))
    return work / "data"


def train(data: Path, work: Path, *extra: str) -> List[str]:
    return ["train", "--data", str(data), "--out", str(work / "out_model"), "--pair", "ct-mri", "--epochs", "1",
            "--batch-size", "2", "--patch", "32", "--device", "cpu", "--architecture",
            json.dumps({"hidden": [4, 4, 8, 8, 8], "blocks": [1, 1, 1, 1, 1]}), *extra]


def _train_corrupt_png(work: Path, model: Path) -> List[str]:
    data = atlas_folder(work)
    truncate(data / "CT-MRI" / "a" / "2001.png")
    return train(data, work)


def _train_unmatched(work: Path, model: Path) -> List[str]:
    data = atlas_folder(work)
    (data / "CT-MRI" / "b" / "2001.png").unlink()
    return train(data, work)


def _train_nan_volume(work: Path, model: Path) -> List[str]:
    write_volume(work / "ct.nii.gz", _mostly_nan(ct_array(0)))
    write_volume(work / "mri.nii.gz", mri_array(1))
    (work / "pairs.csv").write_text("a,b\nct.nii.gz,mri.nii.gz\n")
    return train(work / "pairs.csv", work)


def _train_binary_manifest(work: Path, model: Path) -> List[str]:
    (work / "pairs.csv").write_bytes(b"a,b\n\xff\xfe\x00garbage\n")
    return train(work / "pairs.csv", work)


def _train_manifest_of_another_pair(work: Path, model: Path) -> List[str]:
    write_volume(work / "pet.nii.gz", ct_array(0))
    write_volume(work / "mri.nii.gz", mri_array(1))
    (work / "pairs.csv").write_text("a,b,pair\npet.nii.gz,mri.nii.gz,pet-mri\n")
    return train(work / "pairs.csv", work)


def _train_nan_loss(work: Path, model: Path) -> List[str]:
    return train(atlas_folder(work, pictures=3), work, "--lr", "1e30", "--val-fraction", "0")


def evaluate(work: Path) -> List[str]:
    return ["evaluate", "--fused", str(work / "fused"), "--a", str(work / "a"), "--b", str(work / "b")]


def _evaluate_with(change: Callable[[Path], object]) -> Builder:
    def build(work: Path, model: Path) -> List[str]:
        for folder, seed in (("fused", 1), ("a", 2), ("b", 3)):
            write_picture(work / folder / "x.png", grey_picture(seed))
        change(work)
        return evaluate(work)
    return build


CASES: List[Case] = [
    # fuse: files that cannot be read
    Case("missing file", lambda w, m: fuse(w / "nope.png", _mri_png(w), w / "out.png", m), 2,
         r"nope\.png: no such file"),
    Case("truncated PNG", _picture_case(lambda w: truncate(_ct_png(w))), 2, r"ct\.png: corrupt or truncated PNG"),
    Case("corrupt PNG (damaged pixel data)", _picture_case(lambda w: corrupt(_ct_png(w), 60, 40)), 2,
         r"ct\.png: corrupt or truncated PNG"),
    Case("truncated NIfTI (.nii.gz)", _volume_a_case(lambda w: truncate(write_volume(w / "ct2.nii.gz", ct_array(0)))),
         2, r"ct2\.nii\.gz: truncated"),
    Case("truncated NIfTI (.nii)", _volume_a_case(lambda w: truncate(write_volume(w / "ct2.nii", ct_array(0)))),
         2, r"ct2\.nii: truncated"),
    Case("corrupt NIfTI (damaged gzip data)",
         _volume_a_case(lambda w: corrupt(write_volume(w / "ct2.nii.gz", ct_array(0)), 2000, 64)), 2,
         r"ct2\.nii\.gz: corrupt gzip data"),
    Case("truncated NRRD", _volume_a_case(lambda w: truncate(write_volume(w / "ct2.nrrd", ct_array(0)))), 2,
         r"ct2\.nrrd: (corrupt or truncated|truncated)"),
    Case("truncated DICOM file in a series", _dicom_with(lambda s: truncate(s / "slice003.dcm")), 2,
         r"slice003\.dcm: damaged DICOM: element \(7FE0,0010\) declares"),
    Case("corrupt DICOM file in a series (overwritten)",
         _dicom_with(lambda s: write_bytes(s / "slice003.dcm", bytes(range(256)) * 8)), 2,
         r"slice003\.dcm: unreadable or not part of the DICOM series"),
    Case("DICOM series with a slice missing", _dicom_with(lambda s: (s / "slice004.dcm").unlink()), 2,
         r"ct_series: slices are unevenly spaced"),
    Case("gantry-tilted DICOM series (20 degrees)", _tilted_dicom, 2,
         r"ct_series: gantry-tilted series \(slices stacked 20\.0 degrees off their normal\)"),
    Case("NIfTI whose sform and qform disagree (20 mm)", _volume_a_case(_sform_moved), 2,
         r"ct_sform\.nii: the header's sform and qform place the image differently \(corners up to 20\.0 mm apart"),
    Case("NIfTI with a voxel size (pixdim) of 0", _volume_a_case(_pixdim_zero), 2,
         r"ct_pixdim\.nii: voxel size along axis 2 is 0 in the header"),
    Case("gzip-compressed NIfTI named .nii",
         _volume_a_case(lambda w: write_bytes(w / "ct_gz.nii", write_volume(w / "tmp_ct.nii.gz", ct_array(0))
                                               .read_bytes())), 2,
         r"ct_gz\.nii: is gzip-compressed but named \.nii; rename it to ct_gz\.nii\.gz"),
    Case("--axis coronal on a 1-slice volume", _one_slice_coronal, 2,
         r"ct1\.nii\.gz: coronal slices of this volume would be 1x56 pixels \(size 56x48x1\).*choose another --axis"),
    Case("text file named .nii.gz",
         _volume_a_case(lambda w: write_bytes(w / "notes.nii.gz", b"patient notes\n")), 2,
         r"notes\.nii\.gz: not a NIfTI image"),
    Case("empty (0-byte) file", _picture_case(lambda w: write_bytes(w / "empty.png", b"")), 2,
         r"empty\.png: file is empty"),
    # fuse: readable files that cannot be fused
    Case("2D picture with a 3D volume",
         lambda w, m: fuse(_ct_png(w), write_volume(w / "mri.nii.gz", mri_array(1)), w / "out.nii.gz", m), 2,
         r"cannot fuse a 2D image with a 3D image"),
    Case("4D volume", _volume_a_case(lambda w: write_volume(w / "ct4d.nii.gz", np.stack([ct_array(0)] * 2))), 2,
         r"ct4d\.nii\.gz: 4D image"),
    Case("vector volume (3 components)",
         _volume_a_case(lambda w: write_volume(w / "ctvec.nrrd", np.stack([ct_array(0)] * 3, axis=-1), vector=True)),
         2, r"ctvec\.nrrd: has 3 components per voxel"),
    Case("mostly NaN voxels (75 %)", _volume_a_case(_volume_with(_mostly_nan)), 2,
         r"ct_bad\.nii\.gz: 16128 of 21504 voxels \(75 %\) are NaN or Inf; too little image is left"),
    Case("constant image", _picture_case(lambda w: write_picture(w / "flat.png", np.full((64, 72), 7, np.uint8))), 2,
         r"flat\.png: image is constant"),
    Case("mismatched picture sizes",
         _picture_case(lambda w: write_picture(w / "small.png", grey_picture(1, (48, 72)))), 2, r"sizes differ"),
    Case("mismatched pair folders (a name on one side only)", _batch_mismatched, 2,
         r"skipped only_in_a\.png: missing in"),
    Case("wrong --pair: two MRIs as ct-mri", _two_mris, 2, r"mri_t1\.nii\.gz: does not look like a CT"),
    Case("raw CT (scanner values 0..4095, no rescale intercept)",
         _volume_a_case(lambda w: write_volume(w / "ct_raw.nii.gz", ct_array(0) + 1024)), 2,
         r"ct_raw\.nii\.gz: looks like a CT in raw scanner values, not Hounsfield units .*--ct-offset -1024"),
    Case("CT given as the MRI (swapped A and B)", _swapped, 2, r"ct\.nii\.gz: looks like a CT in Hounsfield units"),
    Case("the same file as A and B", _same_file, 2, r"the two inputs are the same image"),
    Case("volumes apart with --register never (no overlap)", _grids_apart_unregistered, 2,
         r"ct\.nii\.gz, \S*mri_far\.nii\.gz: the two images do not overlap: .*--register auto"),
    Case("volumes whose headers place them 1000 mm apart (no overlap)", _far_apart, 2,
         r"ct\.nii\.gz, \S*mri_far\.nii\.gz: the two images do not overlap: their headers place them \d+ mm apart"),
    Case("volume too large for free memory (30 MB free, simulated)", _too_large, 2,
         r"needs about .* GB of memory, .* GB free; use --batch-size \d+", free_memory_mb=30),
    Case("--save-transform with 2D pictures (nothing is registered)",
         lambda w, m: fuse(_ct_png(w), _mri_png(w), w / "out.png", m, "ct-mri", "--save-transform", str(w / "out.tfm")),
         2, r"out\.tfm: 2D pictures are not registered, so there is no transform to save"),
    Case("--save-transform with an extension ITK cannot write",
         lambda w, m: fuse(*_volumes(w), w / "out.nii.gz", m, "ct-mri", "--save-transform", str(w / "out.xyz")),
         2, r"out\.xyz: unsupported transform file extension"),
    Case("output .MHD beside an input .mhd of the same name (its data file)",
         lambda w, m: fuse(write_volume(w / "ct.mhd", ct_array(0)), write_volume(w / "mri.nii.gz", mri_array(1)),
                           w / "CT.MHD", m, "ct-mri", "--no-register"),
         2, r"CT\.MHD: its data file would replace that of the input \S*ct\.mhd"),
    Case("output file is one of the inputs", _output_is_input, 2, r"mri\.nii\.gz: is also an input"),
    Case("output folder does not exist",
         lambda w, m: fuse(_ct_png(w), _mri_png(w), w / "no_such_dir" / "out.png", m), 2,
         r"output folder .*no_such_dir does not exist"),
    Case("--device cuda on a machine without a GPU",
         lambda w, m: fuse(_ct_png(w), _mri_png(w), w / "out.png", m, "ct-mri", "--device", "cuda"), 2,
         r"no CUDA GPU is available"),
    # model files
    Case("model: pickle that would run code", _model_with(_evil_weights), 2, r"weights\.pt: refused to load"),
    Case("model: truncated weights", _model_with(lambda f: truncate(f / "weights.pt")), 2,
         r"weights\.pt: checksum does not match"),
    Case("model: config does not match the weights", _model_with(_wrong_shape), 2,
         r"weights\.pt: does not match its config"),
    # train
    Case("train: data folder missing", lambda w, m: train(w / "nothing", w), 2, r"nothing: training data not found"),
    Case("train: truncated PNG in the data", _train_corrupt_png, 2, r"2001\.png: corrupt or truncated PNG"),
    Case("train: a name in a/ but not b/", _train_unmatched, 2, r"2001\.png is in only one of a/ and b/"),
    Case("train: a manifest volume mostly NaN", _train_nan_volume, 2,
         r"ct\.nii\.gz: 16128 of 21504 voxels \(75 %\) are NaN"),
    Case("train: manifest that is not UTF-8 text", _train_binary_manifest, 2, r"pairs\.csv: not a UTF-8 CSV"),
    Case("train: manifest without a row of the --pair type", _train_manifest_of_another_pair, 2,
         r"pairs\.csv: no ct-mri rows in the manifest"),
    Case("train: --freeze-cinn without a refinement to train",
         lambda w, m: train(atlas_folder(w), w, "--init", str(m), "--freeze-cinn"), 2,
         r"--freeze-cinn trains only the refinement: it needs --init"),
    Case("train: --init model of another architecture",
         lambda w, m: train(atlas_folder(w), w, "--init", str(m), "--architecture", '{"hidden": [8, 8, 8, 8, 8]}'), 2,
         r"--init model has architecture .* give the same --architecture"),
    Case("train: loss turns NaN (--lr 1e30)", _train_nan_loss, 1, r"loss became nan .*(last good checkpoint|No checkpoint was written yet)"),
    # evaluate
    Case("evaluate: folder missing", lambda w, m: evaluate(w), 2, r"fused: no such folder"),
    Case("evaluate: truncated PNG", _evaluate_with(lambda w: truncate(w / "a" / "x.png")), 2,
         r"x\.png: corrupt or truncated PNG"),
    Case("evaluate: 16-bit PNG", _evaluate_with(lambda w: write_png16(w / "b" / "x.png", 3)), 2,
         r"x\.png: expected 8-bit pixels"),
]
"""Each case and the regex its one error line must match."""

ACCEPTED: Dict[str, Builder] = {
    "16-bit PNG (grey)": _picture_case(lambda w: write_png16(w / "ct16.png", 1)),
    "palette PNG (colour)": _picture_case(lambda w: write_palette_png(w / "palette.png", 1)),
    "grey+alpha PNG": _picture_case(lambda w: write_grey_alpha_png(w / "grey_alpha.png", 1)),
    "DICOM series": _dicom_with(lambda s: None),
    "NaN voxels (5, treated as background with a warning)": _volume_a_case(_volume_with(_nan)),
    "Inf voxels (1, treated as background with a warning)": _volume_a_case(_volume_with(_inf)),
    "NaN voxels in a MetaImage (5)": _volume_a_case(lambda w: write_volume(w / "ct_bad.mha", _nan(ct_array(0)))),
}
"""Inputs that look unusual but are valid: they must fuse (exit 0)."""
