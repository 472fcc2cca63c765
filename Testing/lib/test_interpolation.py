import hashlib
from dataclasses import replace

import pytest
import torch

from conftest import TINY
from FusionCINNLib.cli.main import main
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.network.fusion_net import FusionNet
from FusionCINNLib.network.model_files import FusionModel, load_model, save_model
from FusionCINNLib.training.interpolation import interpolate_models


def _model(config=TINY, seed=0) -> FusionModel:
    return FusionModel(FusionNet(config, seed=seed).eval(), ["ct-mri", "pet-mri"])


def _fine_tune_of(start: FusionModel) -> FusionModel:
    """``start`` with every float tensor moved, as a fine-tune moves it; the permutations stay."""
    tuned = _model()
    generator = torch.Generator().manual_seed(5)
    tuned.net.load_state_dict({k: v + 0.1 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
                               for k, v in start.net.state_dict().items()})
    return tuned


def test_the_weights_lie_on_the_line_between_the_model_and_its_fine_tune():
    start = _model()
    tuned = _fine_tune_of(start)
    mixed = interpolate_models(start, tuned, 0.25).net.state_dict()
    a, b = start.net.state_dict(), tuned.net.state_dict()
    floats = [k for k, v in a.items() if v.is_floating_point()]
    assert floats and any(not v.is_floating_point() for v in a.values())
    for key, value in mixed.items():
        if key in floats:
            assert torch.allclose(value, 0.75 * a[key] + 0.25 * b[key], atol=1e-6), key
        else:
            assert torch.equal(value, a[key]), key
    images = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ends = [interpolate_models(start, tuned, w).net(images[:1], images[1:]).fused for w in (0.0, 1.0)]
        assert torch.equal(ends[0], start.net(images[:1], images[1:]).fused)
        assert torch.allclose(ends[1], tuned.net(images[:1], images[1:]).fused, atol=1e-6)
        assert not torch.allclose(ends[0], ends[1], atol=1e-3)


def test_models_that_are_not_a_model_and_its_fine_tune_are_refused():
    start = _model()
    with pytest.raises(FusionInputError, match="different architectures"):
        interpolate_models(start, _model(replace(TINY, hidden=(4, 4, 8, 8, 16))), 0.5)
    with pytest.raises(FusionInputError, match="not a model and its fine-tune"):
        interpolate_models(start, _model(seed=1), 0.5)
    other_pairs = _fine_tune_of(start)
    other_pairs.pair_types = ["ct-mri"]
    with pytest.raises(FusionInputError, match="different pair types"):
        interpolate_models(start, other_pairs, 0.5)
    with pytest.raises(FusionInputError, match=r"in \[0, 1\]"):
        interpolate_models(start, _fine_tune_of(start), 1.5)


def test_the_command_writes_a_loadable_model_and_never_touches_its_inputs(tmp_path, capsys):
    start = save_model(_model(), tmp_path / "start")
    tuned = save_model(_fine_tune_of(load_model(start)), tmp_path / "tuned")

    def digest(folder):
        return [hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("config.json", "weights.pt")]

    before = digest(start) + digest(tuned)
    assert main(["interpolate", str(start), str(tuned), "--weight", "0.5", "--out", str(tmp_path / "mid")]) == 0
    mid = load_model(tmp_path / "mid")
    assert mid.provenance["interpolated"]["weight"] == 0.5 and mid.pair_types == ["ct-mri", "pet-mri"]
    key = next(k for k, v in mid.net.state_dict().items() if v.is_floating_point())
    expected = 0.5 * (load_model(start).net.state_dict()[key] + load_model(tuned).net.state_dict()[key])
    assert torch.allclose(mid.net.state_dict()[key], expected, atol=1e-6)
    capsys.readouterr()
    assert main(["interpolate", str(start), str(tuned), "--weight", "0.5", "--out", str(start)]) == 2
    assert "is an input model" in capsys.readouterr().err
    assert main(["interpolate", str(start), str(tuned), "--weight", "2", "--out", str(tmp_path / "bad")]) == 2
    save_model(_model(seed=1), tmp_path / "unrelated")
    assert main(["interpolate", str(start), str(tmp_path / "unrelated"), "--weight", "0.5",
                 "--out", str(tmp_path / "bad")]) == 2
    assert f"{start} and {tmp_path / 'unrelated'}: " in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert digest(start) + digest(tuned) == before
