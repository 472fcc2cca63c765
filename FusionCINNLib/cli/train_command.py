"""``fusioncinn train``: train a model on registered pairs (also under ``torchrun`` for DDP)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..atomic import remove_stale_partials
from ..choices import DEVICES, KEEP_CHOICES, PAIR_CHOICES
from ..errors import FusionInputError
from . import interrupts

# torch and the training code are imported inside the functions that use them, so that --help and a bad
# argument are answered before they load.


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a fusion model on registered pairs",
        description="Train on DIR/PAIR/a/NAME.png + DIR/PAIR/b/NAME.png (the atlas layout), a single "
                    "a/ b/ folder, or a CSV manifest of registered volume pairs (columns a,b[,pair]). "
                    "Checkpoints and history.csv go to OUT.training/ (or --work-dir).")
    parser.add_argument("--data", type=Path, required=True, help="data folder or CSV manifest")
    parser.add_argument("--pair", default="all", choices=PAIR_CHOICES, help="pair type(s) to train on")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--resume", action="store_true", help="continue from the last good checkpoint")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="fraction of cases held out")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights' start, the data order and the augmentation")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the train/validation split by case (default 0: the split the benchmarks "
                             "validate on)")
    parser.add_argument("--patch", type=int, default=128, help="training patch side (pixels)")
    parser.add_argument("--val-every", type=int, default=5, help="validate every N epochs")
    parser.add_argument("--work-dir", type=Path, default=None, help="checkpoint folder (default OUT.training)")
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune: start from this model's weights and architecture, e.g. a shipped model")
    parser.add_argument("--freeze-cinn", action="store_true",
                        help="train only the refinement (architecture refine > 0); the cINN keeps --init's weights")
    parser.add_argument("--keep", choices=KEEP_CHOICES, default="best",
                        help="export the best-validated epoch's weights (default) or the last epoch's")
    parser.add_argument("--lesions", type=float, default=0.0,
                        help="fraction of training pairs given a synthetic focal lesion (0-1)")
    parser.add_argument("--mri-lesions", type=float, default=0.0,
                        help="fraction of the other training pairs given a lesion in the MRI alone (0-1)")
    parser.add_argument("--varied-lesions", action="store_true",
                        help="the lesions of --lesions and --mri-lesions also as scaled hot foci and cold regions, "
                             "and a third of them at the edge of the body")
    parser.add_argument("--variant", choices=("conv", "paper"), default="conv", help="network variant")
    parser.add_argument("--architecture", type=str, default=None,
                        help="JSON of architecture overrides, e.g. '{\"blocks\": [1,1,1,1,1]}'")
    parser.add_argument("--loss-weights", type=str, default=None,
                        help="JSON of loss weight overrides, e.g. '{\"latent\": 0.1}'")
    parser.set_defaults(func=run)


def _json_overrides(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise FusionInputError(f"--{what}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise FusionInputError(f"--{what}: expected a JSON object")
    return value


def _architecture(args: argparse.Namespace) -> dict:
    """--init's architecture (a fine-tune), else the variant's; then the --architecture overrides."""
    from ..network.config import PAPER_CONFIG, ModelConfig
    from ..network.model_files import load_model

    if args.init:
        architecture = load_model(args.init).net.config.to_dict()
    else:
        architecture = (PAPER_CONFIG if args.variant == "paper" else ModelConfig()).to_dict()
    if args.architecture:
        architecture.update(_json_overrides(args.architecture, "architecture"))
    try:
        ModelConfig.from_dict(architecture)
    except (TypeError, ValueError) as err:
        raise FusionInputError(f"--architecture: bad value ({err})") from None
    return architecture


def _loss_weights(args: argparse.Namespace) -> dict:
    from ..training.losses import LossWeights

    loss = LossWeights().to_dict()
    if args.loss_weights:
        extra = _json_overrides(args.loss_weights, "loss-weights")
        unknown = set(extra) - set(loss)
        if unknown:
            raise FusionInputError(f"--loss-weights: unknown terms {sorted(unknown)}; known: {sorted(loss)}")
        wrong = [k for k, v in extra.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
        if wrong:
            raise FusionInputError(f"--loss-weights: {wrong[0]} must be a number >= 0, got {extra[wrong[0]]!r}")
        loss.update(extra)
    return loss


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import Trainer, TrainingConfig

    config = TrainingConfig(
        data=str(args.data), out=str(args.out), pair=args.pair, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, val_fraction=args.val_fraction, seed=args.seed, split_seed=args.split_seed, patch=args.patch,
        device=args.device,
        val_every=args.val_every, work_dir=str(args.work_dir) if args.work_dir else None,
        architecture=_architecture(args), loss=_loss_weights(args), lesions=args.lesions, mri_lesions=args.mri_lesions,
        varied_lesions=args.varied_lesions,
        init=str(args.init) if args.init else None, freeze_cinn=args.freeze_cinn, keep=args.keep)
    if args.val_every < 1 or args.patch < 1:
        raise FusionInputError("--val-every and --patch must be >= 1")
    if args.resume:
        for stale in remove_stale_partials(config.run_dir):
            print(f"removed {stale.name}, left by an interrupted run")
    with interrupts.deferred() as cancel:
        folder = Trainer(config, cancel=cancel, console=True, resume=args.resume).run()
    print(f"model written to {folder}")
    return 0
