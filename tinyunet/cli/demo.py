"""``tinyunet demo``: the reference U-Net on synthetic cells, trained to its target Dice."""

from __future__ import annotations

from pathlib import Path

from .common import command

DEMO_TARGET_DICE = 0.90


def add_demo(commands):
    p = command(
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
    from ..train import TrainConfig

    return TrainConfig(train_images=160, val_images=16, image_size=128, crop=64, batch_size=8,
                       lr=2e-3, anneal=True, epochs=None, steps_per_epoch=40,
                       max_seconds=seconds, seed=seed)


def compile_kernels(model, channels: int = 1):
    """One forward and backward pass on a tiny batch, thrown away.

    numba compiles each kernel on its first call (tens of seconds on a fresh machine; the
    result is cached on disk), and that should not eat into the training budget."""
    import numpy as np

    from ..backend import to_device
    from ..ops.dice import dice_ce_loss
    from ..predict import model_device
    from ..tensor import Tensor

    side, device = 2 ** model.config["depth"], model_device(model)
    x = Tensor(np.random.default_rng(0).random((2, channels, side, side), dtype=np.float32),
               device=device)
    dice_ce_loss(model(x), to_device(np.zeros((2, side, side), np.int64), device)).backward()
    model.zero_grad()


def run_demo(args) -> int:
    import time

    import numba

    from ..train import draw_figures, make_trainer

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
