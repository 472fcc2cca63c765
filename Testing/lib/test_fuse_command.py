import numpy as np
import SimpleITK as sitk

from FusionCINNLib.cli.main import main


def _write_png(path, array, rgb=False):
    image = sitk.GetImageFromArray(array.astype(np.uint8), isVector=rgb)
    sitk.WriteImage(image, str(path))
    return path


def _pair(tmp_path, name="p.png", colour=False, size=(96, 80)):
    rng = np.random.default_rng(0)
    a = np.zeros(size + ((3,) if colour else ()), np.uint8)
    a[20:60, 10:50] = rng.integers(50, 255, a[20:60, 10:50].shape)
    b = np.zeros(size, np.uint8)
    b[30:70, 20:70] = rng.integers(30, 200, (40, 50))
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "b").mkdir(exist_ok=True)
    return _write_png(tmp_path / "a" / name, a, colour), _write_png(tmp_path / "b" / name, b)


def test_fuse_two_pictures(tmp_path, tiny_model_dir, capsys):
    a, b = _pair(tmp_path)
    out = tmp_path / "fused.png"
    assert main(["fuse", str(a), str(b), "-o", str(out), "--pair", "ct-mri", "--model", str(tiny_model_dir)]) == 0
    fused = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert fused.shape == (96, 80) and fused.dtype == np.uint8
    assert fused[:5, :5].max() == 0 and fused.max() > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "fused.png"]


def test_colour_pet_keeps_chroma(tmp_path, tiny_model_dir):
    a, b = _pair(tmp_path, colour=True)
    rgb = sitk.GetArrayFromImage(sitk.ReadImage(str(a)))
    rgb[..., 1] //= 2
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(a))
    out = tmp_path / "fused.png"
    assert main(["fuse", str(a), str(b), "-o", str(out), "--pair", "pet-mri", "--model", str(tiny_model_dir)]) == 0
    fused = sitk.ReadImage(str(out))
    assert fused.GetNumberOfComponentsPerPixel() == 3


def test_grey_stored_as_rgb_is_grey(tmp_path, tiny_model_dir):
    a, b = _pair(tmp_path)
    grey = sitk.GetArrayFromImage(sitk.ReadImage(str(a)))
    _write_png(a, np.stack([grey] * 3, axis=-1), rgb=True)
    out = tmp_path / "fused.png"
    assert main(["fuse", str(a), str(b), "-o", str(out), "--pair", "ct-mri", "--model", str(tiny_model_dir)]) == 0
    assert sitk.ReadImage(str(out)).GetNumberOfComponentsPerPixel() == 1


def test_folder_batch_reports_and_skips_bad_pairs(tmp_path, tiny_model_dir, capsys):
    _pair(tmp_path, "one.png")
    _pair(tmp_path, "two.png")
    (tmp_path / "a" / "three.png").write_bytes((tmp_path / "a" / "one.png").read_bytes())
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    (tmp_path / "b" / "bad.png").write_bytes((tmp_path / "b" / "one.png").read_bytes())
    out = tmp_path / "out"
    code = main(["fuse", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out), "--pair", "ct-mri",
                 "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "two.png"]
    assert "three.png" in err and "bad.png" in err and "Traceback" not in err


def test_no_trained_model_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FUSIONCINN_MODELS", str(tmp_path / "none"))
    a, b = _pair(tmp_path)
    code = main(["fuse", str(a), str(b), "-o", str(tmp_path / "f.png"), "--pair", "ct-mri"])
    assert code == 2
    assert "no trained model" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()


def test_missing_input_is_one_line_exit_2(tmp_path, tiny_model_dir, capsys):
    code = main(["fuse", str(tmp_path / "nope.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "f.png"),
                 "--pair", "ct-mri", "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nope.png" in err[0]


def _ct_and_mri():
    """A random CT (HU) and MRI volume on one grid: 70 x 64 x 6 voxels of 0.9 x 0.9 x 3 mm."""
    rng = np.random.default_rng(0)
    ct = sitk.GetImageFromArray((rng.random((6, 64, 70)) * 1500 - 200).astype(np.float32))
    mri = sitk.GetImageFromArray((rng.random((6, 64, 70)) * 400).astype(np.float32))
    for image in (ct, mri):
        image.SetSpacing((0.9, 0.9, 3.0))
        image.SetOrigin((10.0, -4.0, 2.0))
    return ct, mri


def test_volume_pair_with_matching_grids(tmp_path, tiny_model_dir):
    ct, mri = _ct_and_mri()
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(mri, str(tmp_path / "mri.nrrd"))
    out = tmp_path / "fused.mha"
    assert main(["fuse", str(tmp_path / "ct.nii.gz"), str(tmp_path / "mri.nrrd"), "-o", str(out), "--pair",
                 "ct-mri", "--model", str(tiny_model_dir), "--no-register", "--device", "cpu"]) == 0
    fused = sitk.ReadImage(str(out))
    ct_read = sitk.ReadImage(str(tmp_path / "ct.nii.gz"))
    assert fused.GetSize() == ct_read.GetSize() and fused.GetSpacing() == ct_read.GetSpacing()
    assert fused.GetOrigin() == ct_read.GetOrigin() and fused.GetDirection() == ct_read.GetDirection()


def test_python_dash_m_runs(tmp_path):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "FusionCINNLib", "fuse", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--pair" in done.stdout


def test_a_volume_beyond_the_other_inputs_field_of_view_is_reported(tmp_path, tiny_model_dir, capsys):
    """The MRI slab lacks the CT's first 20 of 70 columns: the CLI says how much of the fused volume is the CT
    alone, in the same words as the Slicer module (fusion.record.field_of_view_note)."""
    ct, mri = _ct_and_mri()
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(mri[20:, :, :], str(tmp_path / "mri.nrrd"))
    assert main(["fuse", str(tmp_path / "ct.nii.gz"), str(tmp_path / "mri.nrrd"), "-o", str(tmp_path / "f.mha"),
                 "--pair", "ct-mri", "--model", str(tiny_model_dir), "--no-register", "--reference", "a",
                 "--device", "cpu"]) == 0
    assert ("28.6 % of the fused volume lies beyond mri.nrrd's field of view, where it is ct.nii.gz alone"
            in capsys.readouterr().out)
