"""``tinyunet train``: a U-Net (or a variant) trained from a TrainConfig, one option per
field."""

from __future__ import annotations

import sys
from dataclasses import asdict, fields
from pathlib import Path

from .common import command

# (option, TrainConfig field, type, help); the defaults shown come from TrainConfig itself
TRAIN_OPTIONS = [
    ("--data", "data", str, "'synthetic', 'nuclei', or a folder: train/ and val/, each "
                            "holding images/ and masks/ (PNG or TIFF), or just images/ and "
                            "masks/ (a fifth held out for validation)"),
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
    ("--loss", "loss", str, "dice_ce, ce, dice, or the U-Net paper's weighted_ce or "
                            "dice_weighted_ce (a heavily weighted background line between "
                            "touching objects)"),
    ("--w0", "w0", float, "weighted losses: the border weight's height"),
    ("--sigma", "sigma", float, "weighted losses: the border weight's width in px"),
    ("--target", "target", str, "classes (the masks' classes; instance labels become "
                                "foreground) or three_class (background, interior, boundary "
                                "from instance labels; sets --num-classes 3)"),
    ("--normalize", "normalize", str, "per-image 'percentile' scaling, 'bitdepth' (divide by "
                                      "255, 65535, ...) or 'none'"),
    ("--percentile-low", "percentile_low", float, "percentile scaled to 0"),
    ("--percentile-high", "percentile_high", float, "percentile scaled to 1"),
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
        commands, "train", "train a U-Net (synthetic cells or your own PNG/TIFF images)",
        description=(
            "Train a U-Net with Adam and Dice + cross-entropy. After every epoch: validation\n"
            "(Dice, IoU, pixel accuracy, objects found and their average precision),\n"
            "last.safetensors and best.safetensors, metrics.csv and metrics.json in --out;\n"
            "curves.png and predictions.png at the end. A folder with fewer images than a\n"
            "batch trains on as many random crops as it needs; check one first with\n"
            "'tinyunet data check DIR'.\n"
            "--resume continues exactly where last.safetensors left off, with the saved\n"
            "settings (options given again override them, e.g. more --epochs).\n"
            "Ctrl-C saves a checkpoint first; a NaN loss stops the run and keeps the last\n"
            "good checkpoint."),
        examples=["tinyunet train --out runs/cells --epochs 20",
                  "tinyunet train --out runs/cells --resume --epochs 30",
                  "tinyunet train --data data/my_cells --out runs/mine --crop 96 --lr 3e-4",
                  "tinyunet train --data data/nuclei --out runs/nuclei --loss weighted_ce",
                  "tinyunet train --data data/nuclei --out runs/nuclei3 --target three_class",
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
    if args.target == "three_class" and args.num_classes is None:
        values["num_classes"] = 3
    return TrainConfig.from_dict(values)


def run_train(args) -> int:
    from ..data.files import DataError
    from ..train import TrainingDiverged, train

    config = train_config_from_args(args)
    try:
        config.validate()
    except ValueError as err:
        print(f"tinyunet train: {err}", file=sys.stderr)
        return 2
    try:
        trainer = train(config, args.out, resume=args.resume, progress=not args.no_progress)
    except TrainingDiverged as err:
        print(f"tinyunet train: {err}", file=sys.stderr)
        return 1
    except DataError as err:  # the user's data, not the code: say what, no traceback
        print(f"tinyunet train: {err}\n(see everything training would see with: "
              f"tinyunet data check {config.data})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ntinyunet train: interrupted; checkpoint saved in {args.out}/last.safetensors "
              f"(continue with: tinyunet train --out {args.out} --resume)", file=sys.stderr)
        return 130
    result = trainer.summary()
    objects = ("" if result["val_ap"] is None else
               f", {result['val_objects']} objects found of {result['val_true_objects']}, "
               f"average precision {result['val_ap']:.4f}")
    print(f"{result['status']}: {result['steps']} steps in {result['train_seconds']:.1f} s; "
          f"validation Dice {result['val_dice']:.4f} (best {result['best_val_dice']:.4f})"
          f"{objects}; outputs in {args.out}")
    return 0
