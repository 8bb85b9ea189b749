"""``tinyunet train``: a U-Net (or a variant) trained from a TrainConfig, one option per
field."""

from __future__ import annotations

import sys
from dataclasses import asdict, fields
from pathlib import Path

from .common import command

# (option, TrainConfig field, type, help); the defaults shown come from TrainConfig itself
TRAIN_OPTIONS = [
    ("--data", "data", str, "'synthetic' or a folder with train/ and val/, each holding "
                            "images/*.png and masks/*.png"),
    ("--train-images", "train_images", int, "synthetic: number of training images"),
    ("--val-images", "val_images", int, "synthetic: number of held-out validation images"),
    ("--image-size", "image_size", int, "synthetic: image side in pixels"),
    ("--crop", "crop", int, "train on random crops of this side (0: whole images)"),
    ("--num-classes", "num_classes", int, "classes, background included"),
    ("--model", "model", str, "the U-Net family: unet, attention (gated skips), residual "
                              "(residual units) or unetpp (nested skips)"),
    ("--base-channels", "base_channels", int, "channels of the first level"),
    ("--depth", "depth", int, "number of poolings"),
    ("--up-mode", "up_mode", str, "transposed, bilinear or nearest"),
    ("--padding", "padding", str, "same or valid"),
    ("--norm", "norm", str, "none, batch or group"),
    ("--optimizer", "optimizer", str, "adam, adamw or sgd (momentum 0.9)"),
    ("--lr", "lr", float, "learning rate"),
    ("--loss", "loss", str, "dice_ce, ce or dice"),
    ("--batch-size", "batch_size", int, "images per step"),
    ("--epochs", "epochs", int, "epochs, validation and checkpoint after each (0: as many as "
                                "--max-seconds allows)"),
    ("--steps-per-epoch", "steps_per_epoch", int, "steps per epoch (default: one pass)"),
    ("--max-seconds", "max_seconds", float, "wall-clock budget, then validate, save and stop"),
    ("--anneal", "anneal", bool, "decay the learning rate linearly to 0 over the run"),
    ("--seed", "seed", int, "random seed: weights, order, augmentation, synthetic data"),
    ("--device", "device", str, "cpu, or cuda to train on the GPU (needs tinyunet[gpu])"),
]


def add_train(commands):
    from ..train import TrainConfig

    defaults = TrainConfig()
    p = command(
        commands, "train", "train a U-Net (synthetic cells or a folder of PNGs)",
        description=(
            "Train a U-Net with Adam and Dice + cross-entropy. After every epoch: validation\n"
            "(Dice, IoU, pixel accuracy), last.safetensors and best.safetensors, metrics.csv\n"
            "and metrics.json in --out; curves.png and predictions.png at the end.\n"
            "--resume continues exactly where last.safetensors left off, with the saved\n"
            "settings (options given again override them, e.g. more --epochs).\n"
            "Ctrl-C saves a checkpoint first; a NaN loss stops the run and keeps the last\n"
            "good checkpoint."),
        examples=["tinyunet train --out runs/cells --epochs 20",
                  "tinyunet train --out runs/cells --resume --epochs 30",
                  "tinyunet train --data data/my_cells --out runs/mine --crop 96 --lr 3e-4",
                  "tinyunet train --out runs/bilinear --up-mode bilinear --max-seconds 600",
                  "tinyunet train --out runs/attention --model attention"])
    p.add_argument("--out", default="runs/train", help="output folder (default: runs/train)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.safetensors with its saved settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    for option, field, kind, text in TRAIN_OPTIONS:
        help_text = f"{text} (default: {getattr(defaults, field)})"
        if kind is bool:  # a switch; None (not given) lets a resumed run keep its setting
            p.add_argument(option, dest=field, action="store_const", const=True, default=None,
                           help=help_text)
        else:
            p.add_argument(option, dest=field, type=kind, default=None, help=help_text)
    p.set_defaults(run=run_train)


def train_config_from_args(args):
    """TrainConfig from the defaults, or from the checkpoint with --resume, then the options
    given on the command line."""
    from .. import io
    from ..train import TrainConfig

    if args.resume:
        last = Path(args.out) / "last.safetensors"
        if not last.exists():
            raise SystemExit(f"tinyunet train: nothing to resume, {last} does not exist")
        values = dict(io.load(last)["train_config"])
    else:
        values = asdict(TrainConfig())
    for f in fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    if values.get("crop") == 0:
        values["crop"] = None
    if values.get("epochs") == 0:
        values["epochs"] = None
    if values.get("norm") in ("none", "None"):
        values["norm"] = None
    return TrainConfig.from_dict(values)


def run_train(args) -> int:
    from ..train import TrainingDiverged, train

    config = train_config_from_args(args)
    try:
        trainer = train(config, args.out, resume=args.resume, progress=not args.no_progress)
    except TrainingDiverged as err:
        print(f"tinyunet train: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ntinyunet train: interrupted; checkpoint saved in {args.out}/last.safetensors "
              f"(continue with: tinyunet train --out {args.out} --resume)", file=sys.stderr)
        return 130
    result = trainer.summary()
    print(f"{result['status']}: {result['steps']} steps in {result['train_seconds']:.1f} s; "
          f"validation Dice {result['val_dice']:.4f} (best {result['best_val_dice']:.4f}); "
          f"outputs in {args.out}")
    return 0
