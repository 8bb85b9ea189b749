"""The command line: ``tinyunet COMMAND [options]`` (or ``python -m tinyunet``).

Each command is one small function that adds its sub-parser and sets ``run``, the function
that carries it out; :data:`COMMANDS` lists them. Adding a command is writing one such
function and appending it to the list::

    def add_hello(commands):
        p = _command(commands, "hello", "say hello", examples=["tinyunet hello --name you"])
        p.add_argument("--name", default="world", help="whom to greet (default: world)")
        p.set_defaults(run=lambda args: print(f"hello, {args.name}"))

    COMMANDS.append(add_hello)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, fields
from pathlib import Path

DEMO_TARGET_DICE = 0.90


def _command(commands, name: str, summary: str, description: str = "", examples=()):
    """A sub-parser with its one-line summary, a description, and examples in the epilog."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    return commands.add_parser(name, help=summary, description=description or summary,
                               epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


# ----- demo --------------------------------------------------------------------------------------
def add_demo(commands):
    p = _command(
        commands, "demo", "train the reference U-Net on synthetic cells in a few minutes",
        description=(
            "Train the reference U-Net (1 input channel, 2 classes, base 16 channels, depth 4,\n"
            "'same' convs, transposed-conv upsampling, concatenated skips) on synthetic\n"
            "microscopy images for a fixed wall-clock budget, then report the validation Dice on\n"
            "held-out images. Writes checkpoints, metrics.csv/json and figures to --out.\n"
            "Exits with status 1 if the validation Dice stays below --target."),
        examples=["tinyunet demo --out runs/demo",
                  "tinyunet demo --out runs/quick --seconds 60 --target 0"])
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--seconds", type=float, default=150.0,
                   help="training budget in wall-clock seconds, validation included "
                        "(default: 150)")
    p.add_argument("--target", type=float, default=DEMO_TARGET_DICE,
                   help=f"validation Dice the demo must reach (default: {DEMO_TARGET_DICE})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where to train: cpu, or cuda (needs pip install 'tinyunet[gpu]')")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_demo)


def demo_config(seconds: float, seed: int = 0):
    """The demo's recipe: 64x64 crops of 128x128 images, batch 8, Adam, Dice + CE, the learning
    rate annealed to 0 as the time budget runs out; validation every 40 steps."""
    from .train import TrainConfig

    return TrainConfig(train_images=160, val_images=16, image_size=128, crop=64, batch_size=8,
                       lr=2e-3, anneal=True, epochs=None, steps_per_epoch=40,
                       max_seconds=seconds, seed=seed)


def compile_kernels(model, channels: int = 1):
    """One forward and backward pass on a tiny batch, thrown away.

    numba compiles each kernel on its first call (tens of seconds on a fresh machine; the
    result is cached on disk), and that should not eat into the training budget."""
    import numpy as np

    from .backend import to_device
    from .ops.loss import dice_ce_loss
    from .predict import model_device
    from .tensor import Tensor

    side, device = 2 ** model.config["depth"], model_device(model)
    x = Tensor(np.random.default_rng(0).random((2, channels, side, side), dtype=np.float32),
               device=device)
    dice_ce_loss(model(x), to_device(np.zeros((2, side, side), np.int64), device)).backward()
    model.zero_grad()


def run_demo(args) -> int:
    import time

    import numba

    from .train import draw_figures, make_trainer

    config = demo_config(args.seconds, args.seed)
    config.device = args.device
    out = Path(args.out)
    print(f"tinyunet demo: the reference U-Net on synthetic cells, {args.seconds:g} s budget, "
          f"{numba.get_num_threads()} numba threads")
    print(f"  making {config.train_images} training and {config.val_images} held-out "
          f"{config.image_size}x{config.image_size} images ...", flush=True)
    trainer = make_trainer(config, out, progress=not args.no_progress)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    tic = time.perf_counter()
    compile_kernels(trainer.model)
    print(f"  kernels compiled (or loaded from numba's cache) in {time.perf_counter() - tic:.1f} s")
    print(f"  training on random {config.crop}x{config.crop} crops, batch {config.batch_size}, "
          f"Adam lr {config.lr:g} annealed to 0, {n_params:,} parameters", flush=True)
    result = trainer.fit()
    figures = draw_figures(trainer)
    dice = result["val_dice"]
    print(f"\ntrained {result['steps']} steps in {result['train_seconds']:.1f} s, validation "
          f"included ({result['seconds_per_step']:.3f} s per training step)")
    print(f"validation on {config.val_images} held-out images: Dice {dice:.4f}, "
          f"IoU {result['val_iou']:.4f}, pixel accuracy {result['val_pixel_accuracy']:.4f} "
          f"(best Dice {result['best_val_dice']:.4f} at epoch {result['best_epoch']})")
    print(f"figures:     {figures['curves']}\n             {figures['predictions']}")
    print(f"checkpoints: {trainer.last_path}, {trainer.best_path}")
    print(f"metrics:     {out / 'metrics.csv'}, {out / 'metrics.json'}")
    if dice >= args.target:
        print(f"target reached: validation Dice {dice:.4f} >= {args.target:g}")
        return 0
    print(f"TARGET NOT REACHED: validation Dice {dice:.4f} < {args.target:g} after "
          f"{result['train_seconds']:.0f} s (a slower or busier machine needs a larger "
          f"--seconds)")
    return 1


# ----- train -------------------------------------------------------------------------------------
# (option, TrainConfig field, type, help); the defaults shown come from TrainConfig itself
TRAIN_OPTIONS = [
    ("--data", "data", str, "'synthetic' or a folder with train/ and val/, each holding "
                            "images/*.png and masks/*.png"),
    ("--train-images", "train_images", int, "synthetic: number of training images"),
    ("--val-images", "val_images", int, "synthetic: number of held-out validation images"),
    ("--image-size", "image_size", int, "synthetic: image side in pixels"),
    ("--crop", "crop", int, "train on random crops of this side (0: whole images)"),
    ("--num-classes", "num_classes", int, "classes, background included"),
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
    from .train import TrainConfig

    defaults = TrainConfig()
    p = _command(
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
                  "tinyunet train --out runs/bilinear --up-mode bilinear --max-seconds 600"])
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
    from . import io
    from .train import TrainConfig

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
    from .train import TrainingDiverged, train

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


# ----- predict -----------------------------------------------------------------------------------
def add_predict(commands):
    p = _command(
        commands, "predict", "segment images with a trained checkpoint",
        description=(
            "Segment image files with a checkpoint written by 'tinyunet train' or 'demo'.\n"
            "Writes OUT/<name>_mask.png (binary masks as 0/255) and, with --overlay,\n"
            "OUT/<name>_overlay.png. With --tile, large images are predicted tile by tile with\n"
            "the U-Net paper's overlap-tile strategy: mirrored borders, overlapping tiles, only\n"
            "each tile's centre kept."),
        examples=["tinyunet predict --checkpoint runs/demo/best.safetensors cells.png --out pred",
                  "tinyunet predict --checkpoint runs/demo/best.safetensors big.png --out pred "
                  "--tile 128 --overlay"])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, ...)")
    p.add_argument("--checkpoint", required=True, help="a last/best.safetensors checkpoint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overlay", action="store_true", help="also write the mask over the image")
    p.add_argument("--tile", type=int, default=None,
                   help="overlap-tile prediction with tiles of this side (default: the whole "
                        "image at once)")
    p.add_argument("--overlap", type=int, default=None,
                   help="pixels dropped on each side of a tile (default: tile/4, on the "
                        "pooling grid)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where to run the model (default: cpu)")
    p.set_defaults(run=run_predict)


def run_predict(args) -> int:
    from .predict import load_model, predict_files

    model = load_model(args.checkpoint).to(args.device)
    for path in predict_files(model, args.images, args.out, tile=args.tile,
                              overlap=args.overlap, overlay=args.overlay):
        print(path)
    return 0


# ----- summary -----------------------------------------------------------------------------------
def add_summary(commands):
    p = _command(
        commands, "summary", "print a U-Net's size trace: shapes, channels, parameters",
        description=(
            "Build a U-Net and print, stage by stage, the output shape, the channels (a skip\n"
            "connection shows its concatenation, e.g. 256 + 128 -> 384) and the parameters."),
        examples=["tinyunet summary",
                  "tinyunet summary --base-channels 64 --up-mode bilinear --size 256",
                  "tinyunet summary --base-channels 64 --padding valid --size 572"])
    p.add_argument("--in-channels", type=int, default=1, help="input channels (default: 1)")
    p.add_argument("--num-classes", type=int, default=2, help="classes (default: 2)")
    p.add_argument("--base-channels", type=int, default=16,
                   help="channels of the first level (default: 16)")
    p.add_argument("--depth", type=int, default=4, help="number of poolings (default: 4)")
    p.add_argument("--up-mode", default="transposed", choices=("transposed", "bilinear",
                                                               "nearest"),
                   help="upsampling (default: transposed)")
    p.add_argument("--padding", default="same", choices=("same", "valid"),
                   help="'same' keeps the size, 'valid' is the 2015 paper (default: same)")
    p.add_argument("--norm", default="none", choices=("none", "batch", "group"),
                   help="normalisation after each conv (default: none)")
    p.add_argument("--no-skips", action="store_true",
                   help="the plain encoder-decoder, without skip connections")
    p.add_argument("--size", type=int, default=128, help="input side in pixels (default: 128)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the trace (default: 1)")
    p.set_defaults(run=run_summary)


def run_summary(args) -> int:
    from .models import UNet, summary

    model = UNet(in_channels=args.in_channels, num_classes=args.num_classes,
                 base_channels=args.base_channels, depth=args.depth, padding=args.padding,
                 up_mode=args.up_mode, skips=not args.no_skips,
                 norm=None if args.norm == "none" else args.norm)
    summary(model, (args.batch, args.in_channels, args.size, args.size))
    return 0


# ----- bench -------------------------------------------------------------------------------------
def add_bench(commands):
    p = _command(
        commands, "bench", "time tinyunet against PyTorch CPU, side by side (needs torch)",
        description=(
            "Run the benchmarks in benchmarks/ (the same as `python -m benchmarks`): every conv\n"
            "layer of the reference U-Net, pooling, concat, upsampling, the full training step,\n"
            "512x512 inference, peak memory and start-up time, each against PyTorch CPU in the\n"
            "same run. Writes benchmarks/RESULTS.md and a chart unless --no-write."),
        examples=["tinyunet bench --quick", "tinyunet bench --only step layers"])
    p.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    p.add_argument("--only", nargs="*", metavar="PART",
                   help="some of: layers ops step inference processes")
    p.add_argument("--no-write", action="store_true", help="print only, write no files")
    p.set_defaults(run=run_bench)


def run_bench(args) -> int:
    from benchmarks.harness import main as bench_main

    argv = (["--quick"] if args.quick else []) + (["--no-write"] if args.no_write else [])
    if args.only:
        argv += ["--only", *args.only]
    bench_main(argv)
    return 0


# ----- lab and diffuse: their parsers live beside their code ------------------------------------
def add_lab(commands):
    from .lab.cli import add_lab_parser

    add_lab_parser(commands)


def add_diffuse(commands):
    from .diffusion.cli import add_diffuse_parser

    add_diffuse_parser(commands)


# ----- the parser --------------------------------------------------------------------------------
COMMANDS = [add_demo, add_train, add_predict, add_summary, add_lab, add_diffuse, add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyunet",
        description="tinyunet: a from-scratch deep-learning framework that teaches the U-Net.",
        epilog="examples:\n  tinyunet demo --out runs/demo\n  tinyunet summary --base-channels "
               "64 --up-mode bilinear --size 256\n  tinyunet COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
