"""The Trainer: what ``fusioncinn train`` and the Slicer module's retraining call.

One epoch = ceil(train slices / batch size) steps on random augmented patches. After every epoch a
checkpoint is written atomically (model, optimiser, scheduler, epoch, history); the data order and
augmentation of epoch e come from generators seeded by (seed, e), so a resumed run repeats an
uninterrupted one exactly. A NaN/Inf loss stops the run; the last good checkpoint stays.
Under ``torchrun`` (WORLD_SIZE > 1) it trains with DistributedDataParallel (gloo on CPU, NCCL on
CUDA); each rank takes its share of every batch and rank 0 alone validates and writes files.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..atomic import atomic_output
from ..choices import KEEP_CHOICES
from ..errors import FusionInputError, FusionRuntimeError
from ..fusion.slices import fuse_batch, resolve_device
from ..network.config import WEIGHTLESS_STAGES, ModelConfig
from ..network.fusion_net import FusionNet
from ..network.model_files import FusionModel, load_model, save_model
from ..pairs import modalities
from ..progress import CancelCheck, ConsoleProgressBar, ProgressCallback, report
from .checkpoint import load_checkpoint, save_checkpoint
from .data import (LesionMasks, PairArrays, PairRecord, augmented_patches, load_arrays, read_manifest, scan_pictures,
                   split_for_pair)
from .losses import LossWeights, fusion_loss

LOSS_TERMS = ("total", "intensity", "gradient", "edge", "ssim", "qabf", "vif", "latent", "likelihood", "lesion",
              "imprint", "imprint_mri", "grid")


@dataclass
class TrainingConfig:
    """Everything a training run depends on (saved in checkpoints and in the model's provenance)."""

    data: str
    out: str
    pair: str = "all"
    epochs: int = 100
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-5
    val_fraction: float = 0.2
    seed: int = 0
    split_seed: int = 0
    patch: int = 128
    device: str = "auto"
    grad_clip: float = 5.0
    warmup_fraction: float = 0.03
    val_every: int = 5
    val_images: int = 48
    work_dir: Optional[str] = None
    lesions: float = 0.0
    mri_lesions: float = 0.0
    varied_lesions: bool = False
    init: Optional[str] = None
    freeze_cinn: bool = False
    keep: str = "best"
    architecture: Dict[str, Any] = field(default_factory=lambda: ModelConfig().to_dict())
    loss: Dict[str, float] = field(default_factory=lambda: LossWeights().to_dict())

    @property
    def run_dir(self) -> Path:
        """Where checkpoints and the loss CSV go (never inside the model folder)."""
        return Path(self.work_dir) if self.work_dir else Path(str(self.out).rstrip("/") + ".training")


class TrainingStep(nn.Module):
    """Wraps the network so one forward call computes every loss term (one DDP forward per step)."""

    def __init__(self, net: FusionNet, weights: LossWeights):
        super().__init__()
        self.net = net
        self.weights = weights

    def forward(self, a: torch.Tensor, b: torch.Tensor, functional: torch.Tensor, lesion_core: torch.Tensor,
                lesion_shell: torch.Tensor, lesion_in_b: torch.Tensor, a_before: torch.Tensor,
                b_before: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Loss terms of one batch; ``functional`` (N,) bool: which pairs' a is PET/SPECT; the lesion
        masks and the pair before painting as in :class:`LesionMasks` (tensors, so that DDP can pass them)."""
        out = self.net(a, b)
        latent_target = None
        if self.weights.latent > 0:
            latent_target, _ = self.net.encode(torch.maximum(a, b), out.cond_fused)
        lesions = LesionMasks(lesion_core, lesion_shell, lesion_in_b, a_before, b_before)
        fused_before = None
        if max(self.weights.imprint, self.weights.imprint_mri) > 0 and bool(lesions.painted.any()):
            rows = torch.nonzero(lesions.painted).flatten()
            fused_before = out.fused.detach().clone()
            with torch.no_grad():
                fused_before[rows] = self.net(a_before[rows], b_before[rows]).fused
        return fusion_loss(out, a, b, self.weights, latent_target, functional, lesions, fused_before)


def validation_score(means: Dict[str, float]) -> float:
    """One number to pick the best epoch: mean of VIF, Qabf, SSIM/2 and SCD/2 (each about 0..1)."""
    return float(np.mean([means["VIF"], means["Qabf"], means["SSIM"] / 2, means["SCD"] / 2]))


def evaluate_net(net: FusionNet, arrays: PairArrays, device: torch.device, max_images: int,
                 batch: int = 8) -> Dict[str, Any]:
    """Fuse up to ``max_images`` validation slices (evenly spread) and average the ten metrics,
    overall and per pair type. Images are scored on the 0-255 scale."""
    from ..metrics import compute_metrics

    n = len(arrays.records)
    pick = np.unique(np.linspace(0, n - 1, min(n, max_images)).round().astype(int)) if n else np.array([], int)
    per_pair: Dict[str, List[Dict[str, float]]] = {}
    net.eval()
    with torch.inference_mode():
        for start in range(0, len(pick), batch):
            index = pick[start:start + batch]
            a = torch.from_numpy(arrays.a[index]).unsqueeze(1).to(device)
            b = torch.from_numpy(arrays.b[index]).unsqueeze(1).to(device)
            fused = fuse_batch(net, a, b).squeeze(1).cpu().numpy()
            for i, k in enumerate(index):
                scores = compute_metrics(fused[i] * 255.0, arrays.a[k] * 255.0, arrays.b[k] * 255.0)
                per_pair.setdefault(arrays.records[k].pair, []).append(scores)
    net.train()
    means = {pair: {m: float(np.mean([s[m] for s in rows])) for m in rows[0]} for pair, rows in per_pair.items()}
    overall = {m: float(np.mean([means[p][m] for p in means])) for m in next(iter(means.values()))} if means else {}
    return {"per_pair": means, "mean": overall, "score": validation_score(overall) if overall else float("nan")}


class Trainer:
    """Train a FusionNet on registered pairs. ``run()`` returns the saved model folder."""

    def __init__(self, config: TrainingConfig, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelCheck] = None, console: bool = False, resume: bool = False):
        self.config = config
        self.resume = resume
        self.progress = progress
        self.cancel = cancel
        self.console = console
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.weights = LossWeights(**config.loss)
        self._init_provenance: Optional[Dict[str, Any]] = None
        self.architecture = ModelConfig.from_dict(config.architecture)
        if config.epochs < 1 or config.batch_size < 1 or config.lr <= 0:
            raise FusionInputError("--epochs and --batch-size must be >= 1 and --lr > 0")
        if not 0.0 <= config.lesions <= 1.0:
            raise FusionInputError(f"--lesions must be a fraction in [0, 1], got {config.lesions}")
        if not 0.0 <= config.mri_lesions <= 1.0:
            raise FusionInputError(f"--mri-lesions must be a fraction in [0, 1], got {config.mri_lesions}")
        if not 0.0 <= self.weights.base_mean <= 1.0:
            raise FusionInputError(f"--loss-weights: base_mean must be a fraction in [0, 1], "
                                   f"got {self.weights.base_mean}")
        if config.batch_size < self.world:
            raise FusionInputError(f"--batch-size {config.batch_size} is smaller than the {self.world} processes")
        if config.keep not in KEEP_CHOICES:
            raise FusionInputError(f"--keep must be one of {KEEP_CHOICES}, got {config.keep!r}")
        if config.freeze_cinn and not (self.architecture.refine and config.init):
            raise FusionInputError("--freeze-cinn trains only the refinement: it needs --init (a trained model) "
                                   "and an architecture with refine > 0")

    def _records(self) -> List[PairRecord]:
        """Every record of the data, of all its pair types (the validation split is made over all of them)."""
        data, pair = Path(self.config.data), self.config.pair
        if not data.exists():
            raise FusionInputError(f"{data}: training data not found")
        if data.is_file():
            records = read_manifest(data, pair if pair != "all" else "")
            if not any(pair in ("all", r.pair) for r in records):
                raise FusionInputError(f"{data}: no {pair} rows in the manifest")
            return records
        selected = scan_pictures(data, pair)
        one_pair_folder = (data / "a").is_dir() and (data / "b").is_dir()
        return selected if pair == "all" or one_pair_folder else scan_pictures(data, "all")

    def _initial_model(self) -> Optional[FusionModel]:
        """The model whose weights a fine-tuning run (``init``) starts from, checked against the architecture:
        the same up to a refinement it lacks (this run's then starts as the identity), the finding
        transfer's levels and its joint reading, the source-alone stage and the source floor (which have no weights)."""
        if not self.config.init:
            return None
        model = load_model(self.config.init)
        found = model.net.config
        adds_refinement = found.refine == 0 or found.refine == self.architecture.refine
        weightless = {key: getattr(self.architecture, key) for key in WEIGHTLESS_STAGES}
        same_weights = replace(found, refine=self.architecture.refine, **weightless) == self.architecture
        if not (adds_refinement and same_weights):
            raise FusionInputError(f"{self.config.init}: --init model has architecture {found.to_dict()}, "
                                   f"this run {self.architecture.to_dict()}; give the same --architecture "
                                   f"(or change only a refinement, {', '.join(WEIGHTLESS_STAGES[:-1])} or "
                                   f"{WEIGHTLESS_STAGES[-1]})")
        return model

    def _setup_distributed(self) -> torch.device:
        device = resolve_device(self.config.device)
        if self.world > 1 and not dist.is_initialized():
            if device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                device = torch.device("cuda", local)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def _log_csv(self, row: Dict[str, Any]) -> None:
        path = self.config.run_dir / "history.csv"
        rows = []
        if path.exists():
            with open(path, newline="", encoding="utf-8") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["epoch"]) < row["epoch"]]
        rows.append(row)
        keys: List[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    def run(self) -> Path:
        cfg = self.config
        device = self._setup_distributed()
        torch.manual_seed(cfg.seed)
        if self.rank == 0:
            cfg.run_dir.mkdir(parents=True, exist_ok=True)
        records = self._records()
        train_records, val_records = split_for_pair(records, cfg.pair, cfg.val_fraction, cfg.split_seed)
        if not train_records:
            raise FusionInputError(f"{cfg.data}: no training cases left after the validation split")
        resumed = load_checkpoint(cfg.run_dir) if self.resume else None
        initial = self._initial_model() if resumed is None else None
        self._init_provenance = (resumed[0].get("init_provenance") if resumed is not None
                                 else dict(initial.provenance) if initial is not None else None)
        train = load_arrays(train_records)
        val = load_arrays(val_records) if val_records else None
        if self.architecture.input_size and cfg.patch != self.architecture.input_size:
            raise FusionInputError(f"the paper variant needs --patch {self.architecture.input_size}")
        if cfg.patch % self.architecture.multiple or min(train.a.shape[1:]) < cfg.patch:
            raise FusionInputError(f"patch {cfg.patch} must be a multiple of {self.architecture.multiple} "
                                   f"and fit in the {train.a.shape[1]}x{train.a.shape[2]} slices")

        net = FusionNet(self.architecture, seed=cfg.seed)
        if initial is not None:
            same_layers = initial.net.config.refine == self.architecture.refine
            net.load_state_dict(initial.net.state_dict(), strict=same_layers)
        if cfg.freeze_cinn:
            for module in (net.inn, net.ram):
                module.requires_grad_(False)
        net = net.to(device)
        step_module: nn.Module = TrainingStep(net, self.weights)
        if self.world > 1:
            step_module = nn.parallel.DistributedDataParallel(step_module)
        params = [p for p in net.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = max(1, math.ceil(len(train.a) / cfg.batch_size))
        total = steps_per_epoch * cfg.epochs
        warmup = max(1, int(cfg.warmup_fraction * total))

        def lr_factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor)
        start_epoch, history, best = 0, [], {"score": -math.inf, "epoch": None, "state": None, "metrics": None}
        final_validation: Optional[Dict[str, Any]] = None
        wall_before = 0.0
        if resumed is not None:
            state, path = resumed
            net.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, history, best = state["epoch"], state["history"], state["best"]
            wall_before = float(state.get("wall_seconds", 0.0))
            if self.rank == 0:
                print(f"resuming from {path} after epoch {start_epoch}")
        elif self.resume and self.rank == 0:
            print(f"no checkpoint in {cfg.run_dir}; starting from scratch")

        functional = torch.tensor([modalities(r.pair)[0] != "ct" for r in train.records])
        started = time.monotonic()
        bar = ConsoleProgressBar("training", delay_s=0.0) if (self.console and self.rank == 0) else None
        net.train()
        for epoch in range(start_epoch, cfg.epochs):
            order_gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
            aug_gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch + 7919)
            order = torch.randperm(len(train.a), generator=order_gen).numpy()
            sums = {k: 0.0 for k in LOSS_TERMS}
            for step in range(steps_per_epoch):
                batch_index = order[(step * cfg.batch_size + np.arange(cfg.batch_size)) % len(order)]
                a, b, lesions = augmented_patches(train, batch_index, cfg.patch, aug_gen, cfg.lesions,
                                                  cfg.mri_lesions, cfg.varied_lesions)
                mine = slice(self.rank, None, self.world)
                is_functional = functional[batch_index][mine].to(device)
                a, b, lesions = a[mine].to(device), b[mine].to(device), lesions.rows(mine)
                before_a = a if lesions.a_before is None else lesions.a_before.to(device)
                before_b = b if lesions.b_before is None else lesions.b_before.to(device)
                terms = step_module(a, b, is_functional, lesions.core.to(device), lesions.shell.to(device),
                                    lesions.in_b.to(device), before_a, before_b)
                if not torch.isfinite(terms["total"]):
                    kept = (f"The last good checkpoint (after epoch {epoch}) is kept in {cfg.run_dir}" if epoch
                            else "No checkpoint was written yet")
                    raise FusionRuntimeError(
                        f"loss became {terms['total'].item()} at epoch {epoch + 1} step {step + 1}; stopped. {kept}")
                optimiser.zero_grad(set_to_none=True)
                terms["total"].backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                optimiser.step()
                scheduler.step()
                for k in LOSS_TERMS:
                    sums[k] += float(terms[k].detach())
                fraction = (epoch * steps_per_epoch + step + 1) / total
                message = f"epoch {epoch + 1}/{cfg.epochs} loss {sums['total'] / (step + 1):.4f}"
                if bar is not None:
                    bar(fraction, message)
                report(self.progress, fraction, message, self.cancel)
            row: Dict[str, Any] = {"epoch": epoch + 1, "lr": scheduler.get_last_lr()[0]}
            row.update({f"train_{k}": sums[k] / steps_per_epoch for k in LOSS_TERMS})
            validate = val is not None and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs)
            if self.rank == 0:
                if validate:
                    result = evaluate_net(net, val, device, cfg.val_images)
                    final_validation = result if epoch + 1 == cfg.epochs else None
                    row["val_score"] = result["score"]
                    row.update({f"val_{k}": v for k, v in result["mean"].items()})
                    if result["score"] > best["score"]:
                        best = {"score": result["score"], "epoch": epoch + 1, "metrics": result,
                                "state": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
                row["seconds"] = wall_before + time.monotonic() - started
                history.append(row)
                self._log_csv(row)
                save_checkpoint({"model": net.state_dict(), "optimizer": optimiser.state_dict(),
                                 "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "history": history,
                                 "best": best, "wall_seconds": row["seconds"], "config": asdict(cfg),
                                 "init_provenance": self._init_provenance},
                                cfg.run_dir)
            if self.world > 1:
                dist.barrier()
        if bar is not None:
            bar.close()
        if self.rank != 0:
            return Path(cfg.out)
        if cfg.keep == "last":
            if final_validation is None and val is not None:  # resumed after the last epoch
                final_validation = evaluate_net(net, val, device, cfg.val_images)
            chosen = {"epoch": len(history), "metrics": final_validation, "state": None}
        else:
            chosen = best
        return self._export(net, chosen, best, history, train_records, val_records,
                            wall_before + time.monotonic() - started)

    def _export(self, net: FusionNet, chosen: Dict[str, Any], best: Dict[str, Any], history: List[Dict[str, Any]],
                train_records, val_records, seconds: float) -> Path:
        """Save the ``chosen`` epoch's weights (its ``state``; None: the net as it is) with their provenance."""
        cfg = self.config
        if chosen.get("state") is not None:
            net.load_state_dict(chosen["state"])
        pairs = sorted({r.pair for r in train_records})
        provenance = {
            "trained": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "data": str(cfg.data),
            "training": {k: v for k, v in asdict(cfg).items() if k not in ("architecture",)},
            "epochs_run": len(history),
            "best_epoch": best.get("epoch") or len(history),
            "exported_epoch": chosen.get("epoch") or len(history),
            "wall_seconds": round(seconds, 1),
            "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                        f"torch {torch.__version__}, {self.world} process(es)",
            "train_cases": sorted({f"{r.pair}:{r.case}" for r in train_records}),
            "val_cases": sorted({f"{r.pair}:{r.case}" for r in val_records}),
            "train_pairs": len(train_records),
            "validation": (chosen.get("metrics") or {}),
        }
        if self._init_provenance is not None:
            provenance["init_model"] = {"path": cfg.init, "provenance": self._init_provenance}
        net = net.cpu().eval()
        return save_model(FusionModel(net, pairs, provenance), cfg.out)
