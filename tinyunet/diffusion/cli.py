"""``tinyunet diffuse --out DIR``: train a small text-conditioned diffusion U-Net on synthetic
shapes, then draw the lesson's pictures.

Writes into DIR:

    denoising.png    one sample going from pure noise to a clean image, step by step
    samples.png      a row of samples per prompt ("small circle", "big square", ...)
    loss.png         the training loss
    model.safetensors  the EMA weights, the model config and the schedule
    metrics.json     training time and loss, how close samples are to the training data
                     (nearest-neighbour distance, against pure noise) and how often a
                     simple shape classifier reads back the prompt

The defaults (a 170k-parameter U-Net on 16x16 images) train for ``--time-limit`` = 6 minutes
and sample in about a minute more: about 7 minutes in all on two cores. A wider model
(``--base-channels 32 --channel-mults 1,2,2``) is 5x slower per step, so within the same
budget it sees far fewer images and draws worse shapes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..data.shapes import NULL_PROMPT, PROMPTS, VOCAB, ShapesDataset, classify_shape, tokenize
from ..io import save
from ..models.diffusion_unet import DiffusionUNet
from ..random import manual_seed
from . import figures
from .ddpm import DDPM, SCHEDULES
from .train import to_image_range, train


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def add_diffuse_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``diffuse`` subcommand on an ``argparse`` subparsers object."""
    examples = ["tinyunet diffuse --out runs/diffuse",
                "tinyunet diffuse --out runs/quick --time-limit 60 --base-channels 16",
                "tinyunet diffuse --out runs/shapes32 --size 32 --channel-mults 1,2,2,2"]
    p = subparsers.add_parser(
        "diffuse",
        help="train a small diffusion U-Net on synthetic shapes and draw noise -> image",
        description=__doc__, epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="output directory (created)")
    data = p.add_argument_group("data")
    data.add_argument("--size", type=int, default=16, help="image side in pixels (default 16)")
    data.add_argument("--train-images", type=int, default=3000,
                      help="number of synthetic training images (default 3000)")
    model = p.add_argument_group("model")
    model.add_argument("--base-channels", type=int, default=16, help="channels at full "
                       "resolution (default 16)")
    model.add_argument("--channel-mults", type=_ints, default=(1, 2),
                       help="channel factor per level, comma-separated (default 1,2)")
    model.add_argument("--attention-levels", type=_ints, default=(1,),
                       help="levels with self- and cross-attention (default 1: 8x8 for 16x16 "
                       "images)")
    model.add_argument("--unconditional", action="store_true",
                       help="ignore the prompts (no cross-attention)")
    diff = p.add_argument_group("diffusion")
    diff.add_argument("--timesteps", type=int, default=1000, help="T (default 1000)")
    diff.add_argument("--schedule", choices=SCHEDULES, default="linear",
                      help="beta schedule (default linear)")
    tr = p.add_argument_group("training")
    tr.add_argument("--steps", type=int, default=4000, help="maximum training steps "
                    "(default 4000)")
    tr.add_argument("--time-limit", type=float, default=360.0,
                    help="stop training after this many seconds (default 360)")
    tr.add_argument("--batch-size", type=int, default=32, help="default 32")
    tr.add_argument("--lr", type=float, default=4e-3, help="peak AdamW learning rate "
                    "(default 4e-3)")
    tr.add_argument("--p-uncond", type=float, default=0.1,
                    help="fraction of prompts replaced by the empty prompt (default 0.1)")
    sm = p.add_argument_group("sampling")
    sm.add_argument("--samples-per-prompt", type=int, default=8, help="default 8")
    sm.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim",
                    help="sampler for the grid (default ddim)")
    sm.add_argument("--sample-steps", type=int, default=50,
                    help="DDIM steps for the grid (default 50)")
    sm.add_argument("--guidance", type=float, default=2.0,
                    help="classifier-free guidance scale, 1 = none (default 2)")
    sm.add_argument("--strip-prompt", default="big triangle", choices=PROMPTS, metavar="PROMPT",
                    help="prompt of the noise-to-image strip, drawn with all T ancestral "
                    f"steps: one of {', '.join(PROMPTS)} (default: big triangle)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.set_defaults(run=run_diffuse)
    return p


def nearest_distances(samples: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Euclidean distance from each sample to its nearest training image (both (n, ...))."""
    a, b = samples.reshape(len(samples), -1), data.reshape(len(data), -1)
    d2 = (a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0).min(axis=1))


def run_diffuse(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manual_seed(args.seed)
    images, tokens = ShapesDataset(args.train_images, args.size, seed=args.seed).arrays()
    model = DiffusionUNet(1, args.base_channels, args.channel_mults, args.attention_levels,
                          num_tokens=None if args.unconditional else len(VOCAB))
    ddpm = DDPM(args.timesteps, schedule=args.schedule)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"diffuse: {n_params:,} parameters, {len(images)} images of {args.size}x{args.size}, "
          f"training for up to {args.steps} steps or {args.time_limit:.0f} s")
    run = train(model, ddpm, images, None if args.unconditional else tokens,
                steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                p_uncond=args.p_uncond, seed=args.seed, time_limit=args.time_limit,
                log_every=100)
    net = run["ema"].model
    losses = run["losses"]
    figures.loss_curve(losses, out / "loss.png")

    # the lesson's picture: one sample, noise -> image, every step of the reverse process
    rng = np.random.default_rng(args.seed + 1)
    cond, uncond = _prompts([args.strip_prompt], 1, args.unconditional)
    keep = set(np.linspace(0, args.timesteps - 1, 10).round().astype(int).tolist())
    frames, guesses, kept = [], [], []

    def record(t, x, x0):
        if t in keep:
            frames.append(to_image_range(x[0]))
            guesses.append(to_image_range(x0[0]))
            kept.append(t)

    start = time.perf_counter()
    ddpm.sample(net, (1, 1, args.size, args.size), cond, guidance_scale=args.guidance,
                uncond=uncond, generator=rng, callback=record)
    figures.denoising_strip(frames, guesses, kept, out / "denoising.png",
                            title=f'"{args.strip_prompt}": from pure noise to an image, '
                            f"{args.timesteps} denoising steps")

    # a grid of samples per prompt, and how well they obey their prompts
    k = args.samples_per_prompt
    cond, uncond = _prompts(PROMPTS, k, args.unconditional)
    shape = (len(PROMPTS) * k, 1, args.size, args.size)
    if args.sampler == "ddim":
        x = ddpm.ddim_sample(net, shape, cond, steps=args.sample_steps,
                             guidance_scale=args.guidance, uncond=uncond, generator=rng)
    else:
        x = ddpm.sample(net, shape, cond, guidance_scale=args.guidance, uncond=uncond,
                        generator=rng)
    sample_seconds = time.perf_counter() - start
    samples = to_image_range(x)
    read = [classify_shape(s) for s in samples]
    verdicts = [[read[p * k + j] == prompt for j in range(k)] for p, prompt in enumerate(PROMPTS)]
    labels = ["(no prompt)"] * len(PROMPTS) if args.unconditional else PROMPTS
    figures.prompt_grid([samples[p * k:(p + 1) * k] for p in range(len(PROMPTS))], labels,
                        out / "samples.png", None if args.unconditional else verdicts,
                        title=f"{args.sampler.upper()} samples per prompt (frame: shape "
                        "classifier agrees / disagrees)")

    noise = to_image_range(rng.standard_normal(samples.shape))
    d_samples, d_noise = nearest_distances(samples, images), nearest_distances(noise, images)
    metrics = {
        "parameters": n_params, "train_steps": run["steps"],
        "train_seconds": round(run["seconds"], 1), "sample_seconds": round(sample_seconds, 1),
        "loss_first_50": float(np.mean(losses[:50])), "loss_last_50": float(np.mean(losses[-50:])),
        "nn_distance_samples": float(d_samples.mean()), "nn_distance_noise": float(d_noise.mean()),
        "nn_distance_ratio": float(d_samples.mean() / d_noise.mean()),
        "prompt_accuracy": (None if args.unconditional
                            else float(np.mean([v for row in verdicts for v in row]))),
        "chance": 1 / len(PROMPTS),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    save({"model": net.state_dict(), "config": net.config,
          "ddpm": {"timesteps": ddpm.timesteps, "schedule": ddpm.schedule}},
         out / "model.safetensors")
    prompts = ("" if args.unconditional else f"; the shape classifier agrees with "
               f"{metrics['prompt_accuracy']:.0%} of prompts (chance {metrics['chance']:.0%})")
    print(f"diffuse: {run['steps']} steps in {run['seconds']:.0f} s, loss "
          f"{metrics['loss_first_50']:.3f} -> {metrics['loss_last_50']:.3f}; samples are "
          f"{metrics['nn_distance_ratio']:.2f}x as far from the data as noise is{prompts}. "
          f"Pictures in {out}/")
    return 0


def _prompts(prompts, k, unconditional):
    """Token ids for each prompt repeated k times, and as many empty prompts."""
    if unconditional:
        return None, None
    cond = np.repeat(np.stack([tokenize(p) for p in prompts]), k, axis=0)
    return cond, np.repeat(tokenize(NULL_PROMPT)[None], len(cond), axis=0)
