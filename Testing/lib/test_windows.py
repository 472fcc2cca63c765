"""Windows chosen by the user: parsing, presets, their effect on the fused volume, the CLI and its sidecar."""

import dataclasses
import json

import numpy as np
import pytest
import SimpleITK as sitk

from FusionCINNLib.cli.main import main
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.fusion.pipeline import fuse_volumes
from FusionCINNLib.fusion.salience import salience_thresholds
from FusionCINNLib.fusion.slices import fuse_slices
from FusionCINNLib.imaging.windows import CT_PRESETS, bounds_from_width_level, parse_window
from FusionCINNLib.network import FusionNet
from FusionCINNLib.network.model_files import FusionModel


def test_presets_and_numbers_parse_to_bounds_in_the_inputs_units():
    assert parse_window("brain", "ct", "--window-a") == (0.0, 80.0)
    assert parse_window("Subdural", "ct", "--window-a") == (-32.5, 182.5)
    assert parse_window("stroke", "ct", "--window-a") == (20.0, 60.0)
    assert parse_window("bone", "ct", "--window-a") == (-500.0, 1300.0)
    assert parse_window("soft-tissue", "ct", "--window-a") == (-125.0, 225.0)
    assert parse_window(" -5.5, 1e3", "mri", "--window-b") == (-5.5, 1000.0)
    assert bounds_from_width_level(400.0, 40.0) == (-160.0, 240.0)
    assert set(CT_PRESETS) == {"brain", "subdural", "stroke", "bone", "soft-tissue"}


@pytest.mark.parametrize("text,modality,message", [
    ("80,0", "ct", "LO must be below HI"), ("5,5", "mri", "LO must be below HI"),
    ("a,b", "ct", "must be numbers"), ("nan,4", "pet", "finite"), ("1,inf", "pet", "finite"),
    ("lung", "ct", "or a CT preset"), ("1,2,3", "mri", "expected LO,HI"), ("brain", "pet", "is a CT window"),
    ("brain", "mri", "is a CT window")])
def test_bad_windows_are_one_line_errors(text, modality, message):
    with pytest.raises(FusionInputError, match=message):
        parse_window(text, modality, "--window-a")


def _ct_and_mri():
    rng = np.random.default_rng(0)
    ct = np.full((5, 48, 56), -1000.0, np.float32)
    ct[:, 8:40, 8:48] = 30.0 + 5.0 * rng.standard_normal((5, 32, 40))
    ct[:, 20:28, 20:28] += 70.0  # a hyperdense region
    mri = np.zeros((5, 48, 56), np.float32)
    mri[:, 8:40, 8:48] = 400.0 + 50.0 * rng.random((5, 32, 40))
    return sitk.GetImageFromArray(ct), sitk.GetImageFromArray(mri)


def test_a_chosen_window_is_what_the_network_sees_and_the_range_of_the_output(tiny_model):
    ct, mri = _ct_and_mri()
    result = fuse_volumes(ct, mri, "ct-mri", tiny_model, register="never", reference="a", device="cpu",
                          window_a=(0.0, 80.0), window_b=(0.0, 500.0))
    assert (result.windows["a"].low, result.windows["a"].high) == (0.0, 80.0)
    assert (result.windows["b"].low, result.windows["b"].high) == (0.0, 500.0)
    a01 = np.clip(sitk.GetArrayFromImage(ct) / 80.0, 0.0, 1.0)
    b01 = np.clip(sitk.GetArrayFromImage(mri) / 500.0, 0.0, 1.0)
    expected = 80.0 * fuse_slices(tiny_model.net, a01, b01, device="cpu")
    np.testing.assert_allclose(sitk.GetArrayFromImage(result.image), expected, atol=1e-3)
    default = fuse_volumes(ct, mri, "ct-mri", tiny_model, register="never", reference="a", device="cpu")
    assert (default.windows["a"].low, default.windows["a"].high) == (-100.0, 1500.0)


def test_a_ct_volume_gets_the_finding_transfer_gate_of_its_window_in_hounsfield_units(tiny_model):
    net = FusionNet(dataclasses.replace(tiny_model.net.config, finding_levels=3))  # the transfer has no weights
    net.load_state_dict(tiny_model.net.state_dict())
    net.eval()
    model = FusionModel(net, ["ct-mri"], {"note": "test"})
    ct, mri = _ct_and_mri()
    result = fuse_volumes(ct, mri, "ct-mri", model, register="never", reference="a", device="cpu")
    window_a, window_b = result.windows["a"], result.windows["b"]
    assert (window_a.low, window_a.high) == (-100.0, 1500.0)
    a01, b01 = window_a.normalise(sitk.GetArrayFromImage(ct)), window_b.normalise(sitk.GetArrayFromImage(mri))
    in_hu = fuse_slices(net, a01, b01, device="cpu", salience=salience_thresholds(window_a))
    as_picture = fuse_slices(net, a01, b01, device="cpu")
    np.testing.assert_allclose(sitk.GetArrayFromImage(result.image), window_a.denormalise(in_hu), atol=1e-3)
    assert np.abs(window_a.denormalise(in_hu) - window_a.denormalise(as_picture)).max() > 1.0


def test_cli_windows_are_recorded_in_the_sidecar_and_bad_ones_refused(tmp_path, tiny_model_dir, capsys):
    ct, mri = _ct_and_mri()
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(mri, str(tmp_path / "mri.nrrd"))
    out = tmp_path / "fused.nrrd"
    base = ["fuse", str(tmp_path / "ct.nrrd"), str(tmp_path / "mri.nrrd"), "--pair", "ct-mri", "--model",
            str(tiny_model_dir), "--device", "cpu"]
    assert main(base + ["-o", str(out), "--window-a", "brain", "--window-b", "0,500"]) == 0
    assert "ct.nrrd 0..80 (preset brain); mri.nrrd 0..500 (user 0,500)" in capsys.readouterr().out
    record = json.loads((tmp_path / "fused.json").read_text())
    assert record["inputs"]["a"]["window"] == {"low": 0.0, "high": 80.0, "units": "HU", "chosen": "preset brain"}
    assert record["inputs"]["b"]["window"]["chosen"] == "user 0,500"
    assert record["output"] == {"file": str(out), "units": "HU", "range": [0.0, 80.0]}
    values = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert values.min() >= 0.0 and values.max() <= 80.0
    before = sorted(p.name for p in tmp_path.iterdir())
    for option, value, message in (("--window-a", "80,0", "LO must be below HI"), ("--window-a", "x,1", "numbers"),
                                   ("--window-a", "lung", "CT preset"), ("--window-b", "brain", "CT window")):
        code = main(base + ["-o", str(tmp_path / "new.nrrd"), option, value])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_windows_and_colour_are_refused_for_2d_pictures(tmp_path, tiny_model_dir, capsys):
    picture = (np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(picture), str(tmp_path / "a.png"))
    sitk.WriteImage(sitk.GetImageFromArray(255 - picture), str(tmp_path / "b.png"))
    code = main(["fuse", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "f.png"), "--pair",
                 "ct-mri", "--model", str(tiny_model_dir), "--window-a", "brain"])
    assert code == 2 and "apply to volumes" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()


def test_the_command_lines_names_are_the_engines():
    """The fuse parser offers the names of choices.py (no NumPy at start-up); they must be the engine's."""
    from FusionCINNLib.choices import COLOUR_MAP_NAMES, CT_PRESET_NAMES
    from FusionCINNLib.imaging.colour_maps import COLOUR_MAPS
    from FusionCINNLib.imaging.windows import CT_PRESETS

    assert tuple(CT_PRESETS) == CT_PRESET_NAMES
    assert tuple(COLOUR_MAPS) == COLOUR_MAP_NAMES
