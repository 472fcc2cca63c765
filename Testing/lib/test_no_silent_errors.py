"""Inputs that once gave a silently wrong result (exit 0) or failed late (issue 16): each now gives the
right result or a clear refusal before any work. Small synthetic images built here; the refusals that
fit the table are rows of ``bad_input_cases.CASES``."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from bad_input_cases import (ct_array, fuse, grey_picture, mri_array, partials, set_rescale_slope, write_dicom_series,
                             write_volume)
from FusionCINNLib.cli.main import main
from FusionCINNLib.errors import FusionInputError, FusionWarning
from FusionCINNLib.imaging.image_io import read_image

REPO = Path(__file__).resolve().parents[2]


def _run(argv, capsys):
    """(exit code, stdout, stderr) of ``fusioncinn`` run in-process."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_float32_rounding_of_the_voxel_size_does_not_flip_the_reference_grid(tmp_path, tiny_model_dir, capsys):
    """A CT at 1.8 mm (MetaImage, decimal text) and an MRI at 1.8 mm stored in NIfTI (float32: 1.7999999523):
    the same voxel size, so the CT (A) stays the reference and the result is in HU, and the output says so."""
    spacing = (1.8, 1.8, 1.8)
    ct = write_volume(tmp_path / "ct.mha", ct_array(0), spacing)
    mri = write_volume(tmp_path / "mri.nii.gz", mri_array(1), spacing)
    assert sitk.ReadImage(str(mri)).GetSpacing()[0] != 1.8
    out = tmp_path / "out.nii.gz"
    code, stdout, err = _run(fuse(ct, mri, out, tiny_model_dir, "ct-mri"), capsys)
    assert code == 0, err
    assert "on the grid of A, ct.mha: 56x48x8 voxels of 1.8x1.8x1.8 mm; values in Hounsfield units" in stdout
    assert sitk.ReadImage(str(out)).GetSize() == sitk.ReadImage(str(ct)).GetSize()
    assert float(sitk.GetArrayFromImage(sitk.ReadImage(str(out))).min()) <= -99.0  # the CT window's low end


def test_a_raw_ct_is_refused_and_fuses_in_hu_with_an_explicit_offset(tmp_path, tiny_model_dir, capsys):
    """A CT stored without its rescale intercept (air near 0, brain near 1064) was windowed as HU: brain at
    0.72 of the window instead of 0.08. It is refused; --ct-offset -1024 fuses it in HU."""
    raw = write_volume(tmp_path / "ct_raw.nii.gz", ct_array(0) + 1024)
    mri = write_volume(tmp_path / "mri.nii.gz", mri_array(1))
    out = tmp_path / "out.nii.gz"
    code, _, err = _run(fuse(raw, mri, out, tiny_model_dir, "ct-mri"), capsys)
    assert code == 2 and "raw scanner values" in err and not out.exists()
    code, stdout, err = _run(fuse(raw, mri, out, tiny_model_dir, "ct-mri", "--ct-offset", "-1024"), capsys)
    assert code == 0, err
    assert "values in Hounsfield units" in stdout
    fused = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert float(np.median(fused[ct_array(0) < -500])) < -90.0  # air at the CT window's low end, in HU


def _volume_pair(work: Path):
    return write_volume(work / "ct.nii.gz", ct_array(0)), write_volume(work / "mri.nii.gz", mri_array(1))


def test_output_extensions_are_case_insensitive(tmp_path, tiny_model_dir, capsys):
    """-o t.MHA gave a 0-byte file, exit 0 and .partial files left; -o x.NII.GZ failed after the work."""
    ct, mri = _volume_pair(tmp_path)
    for name in ("t.MHA", "x.NII.GZ", "y.Nrrd"):
        out = tmp_path / name
        code, _, err = _run(fuse(ct, mri, out, tiny_model_dir, "ct-mri", "--no-register"), capsys)
        assert code == 0, err
        image = read_image(out)
        assert image.GetSize() == sitk.ReadImage(str(ct)).GetSize()
        assert float(sitk.GetArrayFromImage(image).std()) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ct.nii.gz", "mri.nii.gz", "t.MHA", "x.NII.GZ",
                                                                  "y.Nrrd", "t.json", "x.json", "y.json"])


def test_header_and_data_outputs_name_their_data_file_after_the_output(tmp_path, tiny_model_dir, capsys):
    """.mhd/.nhdr headers named their data file after the temporary name, and each rewrite orphaned one."""
    ct, mri = _volume_pair(tmp_path)
    for name, data in (("t.mhd", "t.zraw"), ("u.nhdr", "u.raw.gz")):
        for _ in range(2):
            code, _, err = _run(fuse(ct, mri, tmp_path / name, tiny_model_dir, "ct-mri", "--no-register"), capsys)
            assert code == 0, err
        header = (tmp_path / name).read_text(errors="replace")
        assert data in header and ".partial" not in header
        assert sitk.ReadImage(str(tmp_path / name)).GetSize() == sitk.ReadImage(str(ct)).GetSize()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ct.nii.gz", "mri.nii.gz", "t.mhd", "t.zraw",
                                                                  "u.nhdr", "u.raw.gz", "t.json", "u.json"])
    assert not partials(tmp_path)


def test_an_interrupted_header_and_data_write_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl-C after the writer made the data file: no header, no data file, no temporary folder."""
    from FusionCINNLib.imaging import image_io

    def data_then_interrupt(image, path, compress):
        Path(path).with_suffix(".zraw").write_bytes(b"data")
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io.sitk, "WriteImage", data_then_interrupt)
    try:
        image_io.write_image(sitk.Image([4, 4, 4], sitk.sitkFloat32), tmp_path / "t.mhd")
    except KeyboardInterrupt:
        pass
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_as_output_is_refused_before_any_work(tmp_path, tiny_model_dir, capsys, monkeypatch):
    from FusionCINNLib.imaging import image_io

    ct, mri = _volume_pair(tmp_path)
    (tmp_path / "out.nii.gz").mkdir()
    monkeypatch.setattr(image_io, "read_image", lambda path: (_ for _ in ()).throw(AssertionError("read")))
    code, _, err = _run(fuse(ct, mri, tmp_path / "out.nii.gz", tiny_model_dir, "ct-mri"), capsys)
    assert code == 2 and "out.nii.gz: is an existing folder" in err


def test_a_pet_series_with_per_slice_rescale_slopes_is_read_as_float(tmp_path):
    """First slice slope 1, the others slope 2: ITK read the series as uint16 and values above 65535 wrapped."""
    stored = np.full((6, 16, 16), 60000, np.uint16)
    series = write_dicom_series(tmp_path / "pet", stored, (2.0, 2.0, 3.0), modality="PT", dtype=np.uint16)
    for index in range(1, 6):
        set_rescale_slope(series / f"slice{index:03d}.dcm", "2")
    values = sitk.GetArrayFromImage(read_image(series))
    assert values[0].max() == 60000 and values[1:].min() == 120000


def test_a_gantry_tilted_series_is_refused(tmp_path):
    """20-degree gantry tilt: the shear was dropped and the last slice lay far from its ImagePositionPatient."""
    series = write_dicom_series(tmp_path / "ct_tilted", ct_array(0), tilt_degrees=20.0)
    with pytest.raises(FusionInputError, match=r"ct_tilted: gantry-tilted series \(slices stacked 20\.0 degrees"):
        read_image(series)
    read_image(write_dicom_series(tmp_path / "ct_straight", ct_array(0)))


def _patch_nifti(path: Path, at: int, fmt: str, *values) -> Path:
    """Overwrite NIfTI-1 header bytes of an uncompressed .nii at offset ``at``."""
    data = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, data, at, *values)
    path.write_bytes(bytes(data))
    return path


def test_a_nifti_whose_sform_and_qform_disagree_is_refused_and_outputs_carry_both(tmp_path, tiny_model_dir, capsys):
    """sform moved 20 mm from the qform: ITK used the qform silently, FSL/SPM/nibabel the sform."""
    ct = write_volume(tmp_path / "ct.nii", ct_array(0))
    srow_x_offset = struct.unpack_from("<f", ct.read_bytes(), 280 + 12)[0]
    _patch_nifti(ct, 280 + 12, "f", srow_x_offset + 20.0)
    with pytest.raises(FusionInputError, match=r"ct\.nii: the header's sform and qform place the image differently "
                                               r"\(corners up to 20\.0 mm apart"):
        read_image(ct)
    ct_ok = write_volume(tmp_path / "ct_ok.nii", ct_array(0))
    mri = write_volume(tmp_path / "mri.nii.gz", mri_array(1))
    code, _, err = _run(fuse(ct_ok, mri, tmp_path / "out.nii", tiny_model_dir, "ct-mri", "--no-register"), capsys)
    assert code == 0, err
    header = (tmp_path / "out.nii").read_bytes()[:348]
    assert struct.unpack_from("<2h", header, 252) == (1, 1)  # qform and sform both set, and they agree:
    read_image(tmp_path / "out.nii")


def test_a_zero_voxel_size_in_a_nifti_header_is_refused(tmp_path):
    """pixdim 0 was read as 1 mm (and changed the automatic reference)."""
    ct = _patch_nifti(write_volume(tmp_path / "ct.nii", ct_array(0)), 76 + 4 * 3, "f", 0.0)
    with pytest.raises(FusionInputError, match=r"ct\.nii: voxel size along axis 2 is 0 in the header \(pixdim\[3\]\)"):
        read_image(ct)


def test_batch_entries_that_would_write_the_same_output_are_refused_up_front(tmp_path, tiny_model_dir, capsys):
    """A series folder case4/ and a file case4.nii.gz both wrote OUT/case4.nii.gz; the summary counted both."""
    for side, array in (("a", ct_array(0)), ("b", mri_array(1))):
        write_volume(tmp_path / side / "case4.nii.gz", array)
        write_dicom_series(tmp_path / side / "case4", array)
        write_volume(tmp_path / side / "case5.nii.gz", array)
    code, _, err = _run(fuse(tmp_path / "a", tmp_path / "b", tmp_path / "out", tiny_model_dir), capsys)
    assert code == 2 and "both would be written to" in err and "case4.nii.gz; rename one" in err
    assert not (tmp_path / "out").exists()


def test_a_dicom_series_beside_a_plain_folder_is_not_a_batch(tmp_path, tiny_model_dir, capsys):
    """A DICOM series next to a plain folder (or a DICOM disc) became a folder batch and made out.nii.gz/ a folder."""
    series = write_dicom_series(tmp_path / "ct_series", ct_array(0))
    write_volume(tmp_path / "mri_folder" / "mri.nii.gz", mri_array(1))
    out = tmp_path / "out.nii.gz"
    code, _, err = _run(fuse(series, tmp_path / "mri_folder", out, tiny_model_dir), capsys)
    assert code == 2 and "mri_folder: folder holds no DICOM series" in err and not out.exists()
    disc = tmp_path / "disc"
    write_dicom_series(disc / "DICOM" / "S1", ct_array(0))
    (disc / "DICOMDIR").write_bytes(b"\0" * 132)
    code, _, err = _run(fuse(disc, tmp_path / "mri_folder", out, tiny_model_dir), capsys)
    assert code == 2 and "disc: is a DICOM disc or export (it holds a DICOMDIR)" in err and not out.exists()
    write_volume(tmp_path / "ct_folder" / "mri.nii.gz", ct_array(0))
    code, _, err = _run(fuse(tmp_path / "ct_folder", tmp_path / "mri_folder", out, tiny_model_dir), capsys)
    assert code == 2 and "out.nii.gz: A and B are folders of pairs, so the output is a folder" in err
    assert not out.exists()


def test_save_transform_is_checked_before_the_work_and_is_the_identity_on_matching_grids(tmp_path, tiny_model_dir,
                                                                                         capsys):
    """--save-transform x.xyz failed after writing the output; on equal grids the run wrote it, then exit 2."""
    ct, mri = _volume_pair(tmp_path)
    out = tmp_path / "out.nii.gz"
    code, _, err = _run(fuse(ct, mri, out, tiny_model_dir, "ct-mri", "--save-transform", str(tmp_path / "t.xyz")),
                        capsys)
    assert code == 2 and "t.xyz: unsupported transform file extension" in err and not out.exists()
    code, stdout, err = _run(fuse(ct, mri, out, tiny_model_dir, "ct-mri", "--save-transform",
                                  str(tmp_path / "t.tfm")), capsys)
    assert code == 0, err
    assert "t.tfm (identity: the grids already matched" in stdout and out.exists()
    transform = sitk.ReadTransform(str(tmp_path / "t.tfm"))
    assert transform.TransformPoint((10.0, -20.0, 30.0)) == (10.0, -20.0, 30.0)


def test_ctrl_c_while_the_command_starts_is_exit_130_and_one_line(tmp_path, tiny_model_dir):
    """SIGINT in the first second (torch still loading) gave a KeyboardInterrupt traceback and exit -2."""
    ct, mri = _volume_pair(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "FusionCINNLib",
                                *fuse(ct, mri, tmp_path / "out.nii.gz", tiny_model_dir, "ct-mri")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    for line in process.stderr:  # -X importtime: one line per imported module; wait until torch is loading
        if "torch" in line:
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted; no partial output was kept" in err
    assert not (tmp_path / "out.nii.gz").exists() and not partials(tmp_path)


def test_a_few_nan_voxels_are_background_with_a_warning(tmp_path, tiny_model_dir, capsys):
    """NaN outside the field of view (SPM, FSL, PET pipelines) was refused; ITK reads NIfTI NaN as 0, which in a
    CT is water, not air. Now they are the image's background (its smallest value), with a one-line warning."""
    values = ct_array(0)
    values[:, :4, :] = np.nan
    ct = write_volume(tmp_path / "ct_nan.nii.gz", values)
    with pytest.warns(FusionWarning, match="1792 voxels are NaN or Inf; treated as background"):
        image = read_image(ct)
    array = sitk.GetArrayFromImage(image)
    assert np.isfinite(array).all() and array[:, :4, :].max() == array.min() < -1000
    mri = write_volume(tmp_path / "mri.nii.gz", mri_array(1))
    code, _, err = _run(fuse(ct, mri, tmp_path / "out.nii.gz", tiny_model_dir, "ct-mri", "--no-register"), capsys)
    assert code == 0, err
    warning = (f"fusioncinn fuse: warning: {ct}: 1792 voxels are NaN or Inf; treated as background "
               f"({array.min():g}, the image's smallest value)")
    progress = f"fusing {ct.name}"  # the progress bar, which a slow machine shows after its delay
    lines = [line.strip() for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith(progress)] == [warning]


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    distances = [abs(estimate - left), abs(estimate - up), abs(estimate - corner)]
    return (left, up, corner)[distances.index(min(distances))]


def filtered_png(width: int, height: int, depth: int, colour_type: int, rows, bpp: int) -> bytes:
    """A PNG whose rows use the filters 0, 1, 2, 3, 4, 0, ... in turn (an encoder written from the PNG standard)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    body, previous = b"", bytes(len(rows[0]))
    for number, row in enumerate(rows):
        kind = number % 5
        out = bytearray([kind])
        for x, value in enumerate(row):
            left = row[x - bpp] if x >= bpp else 0
            corner = previous[x - bpp] if x >= bpp else 0
            predictor = (0, left, previous[x], (left + previous[x]) // 2, _paeth(left, previous[x], corner))[kind]
            out.append((value - predictor) & 0xFF)
        body += bytes(out)
        previous = row
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(body))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("depth", [8, 16])
def test_a_grey_alpha_png_is_read_as_grey(tmp_path, depth):
    """Grey+alpha is documented as grey, but SimpleITK stopped with 'Unknown PixelType'. Rows use every PNG filter."""
    grey = grey_picture(1).astype(np.uint16) * (200 if depth == 16 else 1)
    alpha = np.full_like(grey, 255)
    dtype = ">u2" if depth == 16 else np.uint8
    rows = [np.stack([row, a], -1).astype(dtype).tobytes() for row, a in zip(grey, alpha)]
    path = tmp_path / "grey_alpha.png"
    path.write_bytes(filtered_png(grey.shape[1], grey.shape[0], depth, 4, rows, bpp=2 * depth // 8))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(path)), grey)
