"""The pictures of the diffusion lesson, written with matplotlib (no window, no pyplot state).

``denoising_strip``  one sample from pure noise to a clean image, step by step: the noisy x_t
                     on top and, below it, the model's running guess of the clean image x0_hat.
``prompt_grid``      a row of samples per prompt: does "big triangle" draw big triangles?
``loss_curve``       the training loss per step (and a moving average), on a log scale.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def _show(ax, image, title=None):
    ax.imshow(np.asarray(image).reshape(image.shape[-2:]), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def denoising_strip(frames, guesses, timesteps, path, title=None) -> None:
    """``frames[i]`` (x_t in [0, 1]) and ``guesses[i]`` (x0_hat) after the step at
    ``timesteps[i]``, in sampling order (pure noise first)."""
    n = len(frames)
    fig = Figure(figsize=(1.1 * n, 2.6))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        _show(axes[0, i], frames[i], f"t={timesteps[i]}")
        _show(axes[1, i], guesses[i])
    axes[0, 0].set_ylabel("x_t", fontsize=8)
    axes[1, 0].set_ylabel("guess of x_0", fontsize=8)
    fig.suptitle(title or "From pure noise to a clean image: each step the U-Net predicts "
                 "the noise to remove", fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def prompt_grid(samples, prompts, path, verdicts=None, title=None) -> None:
    """``samples[p]`` (k images in [0, 1]) drawn for ``prompts[p]``; ``verdicts[p][j]``, if
    given, marks each sample that the shape classifier reads as its prompt (green) or not."""
    rows, cols = len(prompts), max(len(s) for s in samples)
    fig = Figure(figsize=(1.0 * cols + 1.2, 1.0 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, (prompt, row) in enumerate(zip(prompts, samples)):
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(row):
                ax.axis("off")
                continue
            _show(ax, row[c])
            if verdicts is not None:
                for spine in ax.spines.values():
                    spine.set_color("tab:green" if verdicts[r][c] else "tab:red")
                    spine.set_linewidth(2)
        axes[r, 0].set_ylabel(prompt, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title or "Samples per prompt", fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def loss_curve(losses, path, title=None) -> None:
    """The loss at every step (faint) and its moving average over ~2 % of the run."""
    losses = np.asarray(losses, dtype=np.float64)
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(losses) + 1), losses, color="tab:blue", alpha=0.3, lw=0.8,
            label="per step")
    ax.plot(np.arange(window, len(losses) + 1), smooth, color="tab:blue", lw=1.6,
            label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("noise-prediction MSE")
    ax.set_title(title or "Diffusion training loss", fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")
