"""Figures of a run, as PNG files: the training curves and a panel of predictions.

``plot_curves(history, path)``        loss and Dice per epoch, training and validation
``plot_predictions(model, images, masks, path)``
                                      one row per image: input | ground truth | prediction |
                                      overlay (prediction in colour on the input)

matplotlib runs on its Agg backend: files only, no window, works on a headless machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .overlay import overlay


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # before pyplot is imported: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], path) -> Path:
    """Two panels against the epoch: the loss (train, val) and the Dice (train, val)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((ax_loss, "loss", "loss (Dice + CE)"), (ax_dice, "dice", "Dice")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = [row.get(f"{split}_{key}") for row in history]
            ax.plot(epochs, [np.nan if v is None else v for v in values], style,
                    label=split, markersize=3)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_dice.set_ylim(0, 1)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_predictions(model, images, masks, path, titles=("input", "ground truth",
                                                          "prediction", "overlay")) -> Path:
    """One row per image: input | ground truth | prediction | overlay of the prediction.

    ``images``: a list of ``(C, H, W)`` arrays; ``masks``: their ``(H, W)`` true masks. The
    predictions come from :func:`tinyunet.predict.predict` (whole image, eval mode).
    """
    from .predict import predict

    plt = _pyplot()
    n = len(images)
    fig, axes = plt.subplots(n, 4, figsize=(10, 2.6 * n), squeeze=False)
    for row, (image, mask) in enumerate(zip(images, masks)):
        pred = predict(model, image)
        grey = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        vmax = max(int(mask.max()), int(pred.max()), 1)
        panels = ((grey, "gray", 1), (mask, "viridis", vmax), (pred, "viridis", vmax),
                  (overlay(image, pred), None, None))
        for col, (picture, cmap, top) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(picture, cmap=cmap, vmin=0 if cmap else None, vmax=top,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col])
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
