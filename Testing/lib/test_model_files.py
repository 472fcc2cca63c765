import json
import pickle

import pytest
import torch

from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.network import FusionNet, ModelConfig
from FusionCINNLib.network.model_files import FusionModel, load_model, save_model


def test_round_trip_gives_identical_weights(tiny_model, tmp_path):
    folder = save_model(tiny_model, tmp_path / "m")
    loaded = load_model(folder)
    assert loaded.config == tiny_model.config
    assert loaded.pair_types == tiny_model.pair_types
    for key, value in tiny_model.net.state_dict().items():
        assert torch.equal(value, loaded.net.state_dict()[key]), key
    assert load_model(folder / "config.json").config == tiny_model.config


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FusionInputError, match="model not found"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FusionInputError, match="no config.json"):
        load_model(tmp_path / "empty")


def test_truncated_weights_are_detected(tiny_model_dir, tmp_path):
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "config.json").write_bytes((tiny_model_dir / "config.json").read_bytes())
    data = (tiny_model_dir / "weights.pt").read_bytes()
    (folder / "weights.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FusionInputError, match="checksum"):
        load_model(folder)


def test_config_that_does_not_match_weights(tiny_model_dir, tmp_path):
    folder = tmp_path / "wrong"
    folder.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["architecture"]["hidden"] = [8, 8, 8, 8, 8]
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "weights.pt").write_bytes((tiny_model_dir / "weights.pt").read_bytes())
    with pytest.raises(FusionInputError, match="wrong shape"):
        load_model(folder)


def test_refined_model_round_trips_and_a_config_claiming_a_refinement_needs_its_weights(tmp_path):
    torch.manual_seed(0)
    refined = FusionModel(FusionNet(ModelConfig(hidden=(4, 4, 8, 8, 8), refine=4)), ["ct-mri"])
    loaded = load_model(save_model(refined, tmp_path / "refined"))
    assert loaded.config.refine == 4
    assert torch.equal(loaded.net.refine.layers[0].weight, refined.net.refine.layers[0].weight)
    plain = save_model(FusionModel(FusionNet(ModelConfig(hidden=(4, 4, 8, 8, 8))), ["ct-mri"]), tmp_path / "plain")
    config = json.loads((plain / "config.json").read_text())
    config["architecture"]["refine"] = 4
    (plain / "config.json").write_text(json.dumps(config))
    with pytest.raises(FusionInputError, match=r"weights.pt: does not match its config: 8 missing tensors \(first refine"):
        load_model(plain)


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open('PWNED_MARKER', 'w').write('x')",))


def test_pickle_that_would_run_code_is_refused(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "evil"
    folder.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["weights"].pop("sha256")
    (folder / "config.json").write_text(json.dumps(config))
    torch.save({"x": _RunsCode()}, folder / "weights.pt")
    with pytest.raises(FusionInputError, match="refused to load"):
        load_model(folder)
    assert not (tmp_path / "PWNED_MARKER").exists()
    with open(folder / "weights.pt", "wb") as handle:
        pickle.dump(_RunsCode(), handle)
    with pytest.raises(FusionInputError):
        load_model(folder)
    assert not (tmp_path / "PWNED_MARKER").exists()


def test_saved_files_are_readable_and_complete(tmp_path):
    net = FusionNet(ModelConfig(hidden=(4, 4, 4, 4, 4), blocks=(1, 1, 1, 1, 1)))
    folder = save_model(FusionModel(net, ["ct-mri"], {"epochs": 3}), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    assert config["pair_types"] == ["ct-mri"] and config["provenance"] == {"epochs": 3}
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.pt"]
