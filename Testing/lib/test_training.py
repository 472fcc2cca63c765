import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from conftest import REPO, TINY
from FusionCINNLib.errors import FusionCancelled, FusionInputError, FusionRuntimeError
from FusionCINNLib.network.model_files import load_model
from FusionCINNLib.training import trainer as trainer_module
from FusionCINNLib.training.checkpoint import load_checkpoint
from FusionCINNLib.training.data import insert_lesions, scan_pictures, split_by_case, split_for_pair
from FusionCINNLib.training.losses import LossWeights
from FusionCINNLib.training.trainer import Trainer, TrainingConfig


def _atlas(root, cases=(1, 2, 3, 4), slices=3, size=64):
    rng = np.random.default_rng(0)
    for pair in ("CT-MRI", "PET-MRI"):
        for side in ("a", "b"):
            (root / pair / side).mkdir(parents=True, exist_ok=True)
        for case in cases:
            for s in range(slices):
                name = f"{case * 1000 + s}.png"
                a = np.zeros((size, size), np.uint8)
                a[8:40, 10:50] = rng.integers(60, 255, (32, 40))
                b = np.zeros((size, size), np.uint8)
                b[16:56, 12:44] = rng.integers(20, 200, (40, 32))
                sitk.WriteImage(sitk.GetImageFromArray(a), str(root / pair / "a" / name))
                sitk.WriteImage(sitk.GetImageFromArray(b), str(root / pair / "b" / name))
    return root


def _config(tmp_path, **changes):
    base = TrainingConfig(data=str(_atlas(tmp_path / "data")), out=str(tmp_path / "model"), epochs=2,
                          batch_size=4, patch=32, val_every=1, val_images=4, device="cpu",
                          architecture=TINY.to_dict(), val_fraction=0.25)
    return replace(base, **changes)


def test_split_is_by_case(tmp_path):
    records = scan_pictures(_atlas(tmp_path / "d", cases=(1, 2, 3, 4, 5)), "all")
    train, val = split_by_case(records, 0.2, seed=0)
    assert val and train
    assert not {r.case for r in train} & {r.case for r in val}
    assert {r.pair for r in val} == {"ct-mri", "pet-mri"}


def _uneven_atlas(root):
    """CT-MRI cases 1-5, PET-MRI cases 1-8: a per-type split of CT-MRI alone differs from the all-types one."""
    root = _atlas(root, cases=tuple(range(1, 9)), slices=1)
    for path in (root / "CT-MRI").glob("*/[678]000.png"):
        path.unlink()
    return root


@pytest.mark.parametrize("seed", range(6))
def test_one_pair_type_run_keeps_the_validation_cases_of_an_all_pairs_run(tmp_path, seed):
    records = scan_pictures(_uneven_atlas(tmp_path / "d"), "all")
    _, val_all = split_for_pair(records, "all", 0.2, seed)
    train_ct, val_ct = split_for_pair(records, "ct-mri", 0.2, seed)
    assert {r.pair for r in train_ct + val_ct} == {"ct-mri"}
    assert {r.case for r in val_ct} == {r.case for r in val_all if r.pair == "ct-mri"}
    assert not {r.case for r in train_ct} & {r.case for r in val_all}


def test_one_pair_type_run_validates_on_the_all_pairs_split(tmp_path):
    config = _config(tmp_path, data=str(_uneven_atlas(tmp_path / "uneven")), pair="ct-mri", epochs=1,
                     val_fraction=0.2, batch_size=2)
    model = load_model(Trainer(config).run())
    _, val_all = split_by_case(scan_pictures(Path(config.data), "all"), config.val_fraction, config.seed)
    assert model.pair_types == ["ct-mri"]
    assert model.provenance["val_cases"] == sorted({f"ct-mri:{r.case}" for r in val_all if r.pair == "ct-mri"})


def test_training_writes_model_checkpoint_and_history(tmp_path):
    config = _config(tmp_path)
    folder = Trainer(config).run()
    model = load_model(folder)
    assert model.pair_types == ["ct-mri", "pet-mri"]
    assert model.provenance["epochs_run"] == 2 and model.provenance["val_cases"]
    assert "VIF" in model.provenance["validation"]["mean"]
    history = (config.run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "val_Qabf" in history[0]
    assert load_checkpoint(config.run_dir)[0]["epoch"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.pt"]


def test_the_lesion_terms_are_trained_on_and_logged_only_when_asked_for(tmp_path):
    def lesion_columns(config) -> list:
        Trainer(config).run()
        with open(config.run_dir / "history.csv", newline="") as handle:
            return [(float(row["train_lesion"]), float(row["train_imprint"])) for row in csv.DictReader(handle)]

    weights = dict(LossWeights().to_dict(), lesion=1.0, imprint=1.0)
    on = lesion_columns(_config(tmp_path / "on", lesions=0.5, mri_lesions=1.0, loss=weights))
    assert all(lesion > 0 and imprint > 0 for lesion, imprint in on)
    off = lesion_columns(_config(tmp_path / "off", lesions=0.5, mri_lesions=1.0))
    assert all(lesion == 0 and imprint == 0 for lesion, imprint in off)
    with pytest.raises(FusionInputError, match="--mri-lesions"):
        Trainer(_config(tmp_path / "bad", mri_lesions=1.5))


def test_a_base_mean_outside_0_to_1_is_refused(tmp_path):
    for wrong in (-0.5, 1.5):
        with pytest.raises(FusionInputError, match="base_mean must be a fraction"):
            Trainer(_config(tmp_path / "bad", loss=dict(LossWeights().to_dict(), base_mean=wrong)))


def test_resumed_run_matches_uninterrupted_run(tmp_path):
    whole = Trainer(_config(tmp_path / "whole", epochs=3)).run()
    config = _config(tmp_path / "cut", epochs=3)
    calls = {"n": 0}

    def cancel_in_epoch_two():
        calls["n"] += 1
        return calls["n"] > 7  # 18 training slices, batch 4: 5 steps an epoch; stops in epoch 2

    with pytest.raises(FusionCancelled):
        Trainer(config, cancel=cancel_in_epoch_two).run()
    assert load_checkpoint(config.run_dir)[0]["epoch"] == 1
    resumed = Trainer(config, resume=True).run()
    a, b = load_model(whole).net.state_dict(), load_model(resumed).net.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_keep_exports_the_best_validated_or_the_last_epoch(tmp_path, monkeypatch):
    scores = iter([3.0, 2.0, 1.0, 0.5, 3.0, 2.0, 1.0])  # validation gets worse every epoch: the best is epoch 1
    monkeypatch.setattr(trainer_module, "validation_score", lambda means: next(scores))
    config = _config(tmp_path, epochs=3)
    best = load_model(Trainer(config).run())
    state = load_checkpoint(config.run_dir)[0]
    last_config = replace(config, out=str(tmp_path / "last"), work_dir=str(config.run_dir), keep="last")
    last = load_model(Trainer(last_config, resume=True).run())
    assert (best.provenance["exported_epoch"], last.provenance["exported_epoch"]) == (1, 3)
    assert all(torch.equal(best.net.state_dict()[k], v) for k, v in state["best"]["state"].items())
    assert all(torch.equal(last.net.state_dict()[k], v) for k, v in state["model"].items())
    assert not all(torch.equal(best.net.state_dict()[k], v) for k, v in state["model"].items())
    with open(config.run_dir / "history.csv", newline="") as handle:
        final_vif = float(list(csv.DictReader(handle))[-1]["val_VIF"])
    assert last.provenance["validation"]["mean"]["VIF"] == pytest.approx(final_vif)
    direct = replace(config, out=str(tmp_path / "direct"), work_dir=str(tmp_path / "direct.training"), keep="last")
    direct_model = load_model(Trainer(direct).run())  # the last epoch's validation is reused, not run again
    with open(tmp_path / "direct.training" / "history.csv", newline="") as handle:
        direct_vif = float(list(csv.DictReader(handle))[-1]["val_VIF"])
    assert direct_model.provenance["exported_epoch"] == 3
    assert direct_model.provenance["validation"]["mean"]["VIF"] == pytest.approx(direct_vif)
    with pytest.raises(FusionInputError, match="--keep must be one of"):
        Trainer(replace(config, keep="first"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    config = _config(tmp_path, epochs=3)
    real_loss = trainer_module.fusion_loss
    calls = {"n": 0}

    def loss_turning_nan(*args, **kwargs):
        calls["n"] += 1
        terms = real_loss(*args, **kwargs)
        if calls["n"] > 7:
            terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.setattr(trainer_module, "fusion_loss", loss_turning_nan)
    with pytest.raises(FusionRuntimeError, match="NaN|nan"):
        Trainer(config).run()
    state, path = load_checkpoint(config.run_dir)
    assert state["epoch"] == 1 and path.name == "epoch-00001.pt"
    assert not os.path.exists(config.out)


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path):
    config = _config(tmp_path)
    Trainer(config).run()
    last = config.run_dir / "epoch-00002.pt"
    last.write_bytes(last.read_bytes()[:-100])
    state, path = load_checkpoint(config.run_dir)
    assert path.name == "epoch-00001.pt" and state["epoch"] == 1


def test_bad_training_input(tmp_path):
    with pytest.raises(FusionInputError, match="not found"):
        Trainer(_config(tmp_path, data=str(tmp_path / "missing"))).run()
    data = _atlas(tmp_path / "odd")
    (data / "CT-MRI" / "a" / "9999.png").write_bytes((data / "CT-MRI" / "a" / "1000.png").read_bytes())
    with pytest.raises(FusionInputError, match="only one of"):
        Trainer(_config(tmp_path, data=str(data))).run()


def test_ddp_two_processes_gloo(tmp_path):
    data = _atlas(tmp_path / "data")
    out = tmp_path / "ddp_model"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
               "-m", "FusionCINNLib", "train", "--data", str(data), "--out", str(out), "--epochs", "1",
               "--batch-size", "4", "--patch", "32", "--device", "cpu", "--val-every", "1",
               "--architecture", json.dumps(TINY.to_dict()), "--lesions", "0.5", "--mri-lesions", "0.5",
               "--loss-weights", json.dumps({"lesion": 1.0, "imprint": 1.0})]   # each process: its share of the lesions
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    model = load_model(out)
    assert "2 process(es)" in model.provenance["hardware"]


def test_fine_tuning_starts_from_the_init_model_and_checks_its_architecture(tmp_path):
    start = load_model(Trainer(_config(tmp_path / "first", epochs=1)).run()).net.state_dict()
    tuned = load_model(Trainer(_config(tmp_path / "tuned", epochs=1, lr=1e-12,
                                       init=str(tmp_path / "first" / "model"))).run())
    fresh = load_model(Trainer(_config(tmp_path / "fresh", epochs=1, lr=1e-12)).run()).net.state_dict()
    assert all(torch.allclose(tuned.net.state_dict()[k], start[k], atol=1e-6) for k in start)
    assert not all(torch.allclose(fresh[k], start[k], atol=1e-6) for k in start)
    assert tuned.provenance["training"]["init"] == str(tmp_path / "first" / "model")
    assert tuned.provenance["init_model"]["provenance"]["epochs_run"] == 1  # the chain of provenance
    wider = replace(TINY, hidden=(4, 4, 8, 8, 16)).to_dict()
    with pytest.raises(FusionInputError, match="first.model: --init model has architecture"):
        Trainer(_config(tmp_path / "bad", architecture=wider, init=str(tmp_path / "first" / "model"))).run()
    with_transfer = replace(TINY, finding_levels=5, source_alone=True, source_floor=True).to_dict()  # no weights
    transferred = load_model(Trainer(_config(tmp_path / "transfer", epochs=1, lr=1e-12, architecture=with_transfer,
                                             init=str(tmp_path / "first" / "model"))).run())
    assert transferred.config.finding_levels == 5 and transferred.config.source_alone
    assert transferred.config.source_floor
    assert all(torch.allclose(transferred.net.state_dict()[k], start[k], atol=1e-6) for k in start)


def test_refinement_stage_trains_only_the_refinement_on_a_frozen_cinn(tmp_path):
    first = Trainer(_config(tmp_path / "first", epochs=1)).run()
    start = load_model(first).net.state_dict()
    refined_arch = replace(TINY, refine=4).to_dict()
    refined = load_model(Trainer(_config(tmp_path / "refined", epochs=1, init=str(first), freeze_cinn=True,
                                         architecture=refined_arch)).run())
    state = refined.net.state_dict()
    assert refined.config.refine == 4
    assert all(torch.equal(state[k], start[k]) for k in start)
    assert state["refine.layers.6.weight"].abs().sum() > 0  # started at zero, trained
    with pytest.raises(FusionInputError, match="--freeze-cinn trains only the refinement"):
        Trainer(_config(tmp_path / "no-refine", init=str(first), freeze_cinn=True))
    wider = replace(TINY, refine=8).to_dict()
    with pytest.raises(FusionInputError, match="refined.model: --init model has architecture"):
        Trainer(_config(tmp_path / "wider", init=str(tmp_path / "refined" / "model"), architecture=wider)).run()


def test_resumed_fine_tuning_needs_no_init_model(tmp_path):
    first = Trainer(_config(tmp_path / "first", epochs=1)).run()
    config = _config(tmp_path / "tuned", epochs=2, init=str(first))
    calls = {"n": 0}

    def cancel_in_epoch_two():
        calls["n"] += 1
        return calls["n"] > 7

    with pytest.raises(FusionCancelled):
        Trainer(config, cancel=cancel_in_epoch_two).run()
    for path in first.iterdir():
        path.unlink()
    first.rmdir()  # the starting model is gone; its provenance is in the checkpoint
    tuned = load_model(Trainer(config, resume=True).run())
    assert tuned.provenance["init_model"]["provenance"]["epochs_run"] == 1


def test_synthetic_lesions_brighten_a_ball_on_anatomy_and_leave_inputs_alone():
    a = torch.full((6, 1, 40, 40), 0.2)
    b = torch.zeros(6, 1, 40, 40)
    b[..., 10:30, 10:30] = 0.6
    a_in, b_in = a.clone(), b.clone()
    same_a, same_b, none = insert_lesions(a, b, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(same_a, a) and torch.equal(same_b, b) and not none.core.any() and not none.in_b.any()
    lesion_a, lesion_b, masks = insert_lesions(a, b, 1.0, torch.Generator().manual_seed(0))
    again_a, _, _ = insert_lesions(a, b, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(a, a_in) and torch.equal(b, b_in) and torch.equal(lesion_a, again_a)
    assert torch.equal(masks.a_before, a_in) and torch.equal(masks.b_before, b_in)   # for the imprint term
    assert masks.painted.all() and not none.painted.any()
    assert float(lesion_a.max()) <= 1.0 and torch.all(lesion_b <= b)
    for i in range(6):
        gain = lesion_a[i, 0] - a[i, 0]
        peak = np.unravel_index(int(gain.argmax()), gain.shape)
        assert float(gain.max()) >= 0.3 and b[i, 0][peak] > 0.1  # centred on anatomy
        assert 20 <= int((gain > 0.5 * gain.max()).sum()) <= 600  # a ball of radius 3-12 px, not the patch
        core, shell = masks.core[i, 0] > 0, masks.shell[i, 0] > 0
        assert bool(core.any()) and not bool((core & shell).any())
        assert float(gain[core].min()) > 0.6 * float(gain.max())          # the core: the ball's middle (soft edge)
        assert float(gain[shell].max()) < 0.25 * float(gain.max())         # the shell: past the soft edge
    assert not masks.in_b.any()


def test_mri_only_lesions_change_the_mri_alone_and_are_marked_as_its():
    a = torch.full((8, 1, 48, 48), 0.2)
    b = torch.zeros(8, 1, 48, 48)
    b[..., 8:40, 8:40] = 0.5
    lesion_a, lesion_b, masks = insert_lesions(a, b, 0.0, torch.Generator().manual_seed(1), mri_probability=1.0)
    assert torch.equal(lesion_a, a) and masks.in_b.all()
    for i in range(8):
        core = masks.core[i, 0] > 0
        inside = core & (b[i, 0] > 0)                     # a core at the anatomy's edge reaches past it
        factor = lesion_b[i, 0][inside] / b[i, 0][inside]
        assert bool(core.any()) and (float(factor.min()) > 1.25 or float(factor.max()) < 0.65)
    # with a lesion in A for every pair, none is left for an MRI-only one
    _, _, both = insert_lesions(a, b, 1.0, torch.Generator().manual_seed(1), mri_probability=1.0)
    assert not both.in_b.any()


def test_varied_lesions_are_hot_and_cold_and_a_third_lie_at_the_body_edge():
    n = 90
    rows, cols = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    depth = 34.0 - torch.sqrt((rows - 48) ** 2 + (cols - 48) ** 2)    # px inside a disc of radius 34
    a = torch.where(depth > 0, 0.4, 0.0).expand(n, 1, 96, 96).clone()
    b = torch.where(depth > 0, 0.5, 0.0).expand(n, 1, 96, 96).clone()
    plain_a, _, _ = insert_lesions(a, b, 1.0, torch.Generator().manual_seed(3))
    lesion_a, lesion_b, masks = insert_lesions(a, b, 1.0, torch.Generator().manual_seed(3), varied=True)
    assert torch.all(plain_a >= a)                          # without ``varied``: A's gain alone
    cold = hot = at_edge = 0
    for i in range(n):
        core = masks.core[i, 0] > 0
        change = float((lesion_a[i, 0] - a[i, 0])[core].mean())
        if change < 0:
            cold += 1
            ratio = lesion_a[i, 0][core & (depth > 0)] / 0.4
            assert float(ratio.min()) >= 0.39 and float(ratio.mean()) <= 0.75      # a x0.4-0.6 region
            assert torch.equal(lesion_b[i], b[i])                                  # no MRI partner
        else:
            hot += 1
        centre = (round(float(rows[core].mean())), round(float(cols[core].mean())))
        radius = 2.0 * (float(core.sum()) / np.pi) ** 0.5           # the core: within R/2 of the centre
        at_edge += abs(float(depth[centre]) - radius) <= 1.5
    assert 18 <= cold <= 42 and hot == n - cold
    assert 25 <= at_edge <= 50     # a third placed there, and some of the others (17 of 90 when none is placed)


def test_the_split_has_its_own_seed_so_a_second_seed_keeps_the_validation_cases(tmp_path):
    from FusionCINNLib.cli.main import main

    data = _atlas(tmp_path / "data", cases=tuple(range(1, 9)), slices=1)

    def val_cases(name: str, *seeds: str) -> list:
        out = tmp_path / name
        code = main(["train", "--data", str(data), "--out", str(out), "--pair", "all", "--epochs", "1",
                     "--batch-size", "4", "--patch", "32", "--device", "cpu", "--val-fraction", "0.25",
                     "--architecture", json.dumps(TINY.to_dict()), *seeds])
        assert code == 0
        return load_model(out).provenance["val_cases"]

    first = val_cases("first")
    expected = split_by_case(scan_pictures(data, "all"), 0.25, seed=0)[1]
    assert first == sorted({f"{r.pair}:{r.case}" for r in expected})
    assert val_cases("second", "--seed", "3") == first
    assert val_cases("other_split", "--split-seed", "1") != first
