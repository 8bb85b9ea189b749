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


def plot_curves(history: list[dict], path, loss_name: str = "Dice + CE") -> Path:
    """Two panels against the epoch: the loss (train, val) and the Dice (train, val), with a
    one-line takeaway under them: where validation Dice ended and how far training runs ahead
    of it (a growing gap is overfitting)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((ax_loss, "loss", f"loss ({loss_name})"), (ax_dice, "dice", "Dice")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = [row.get(f"{split}_{key}") for row in history]
            ax.plot(epochs, [np.nan if v is None else v for v in values], style,
                    label=split, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    ax_dice.set_ylim(0, 1)
    fig.tight_layout()
    fig.text(0.5, 0, _curves_takeaway(history), ha="center", va="top", fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # "tight" takes the takeaway in
    plt.close(fig)
    return path


def _curves_takeaway(history) -> str:
    last = history[-1] if history else {}
    val, train = last.get("val_dice"), last.get("train_dice")
    if val is None or train is None:
        return "no validation Dice recorded"
    gap = train - val
    verdict = ("training runs ahead of validation: the model is starting to overfit"
               if gap > 0.03 else "validation keeps up with training: no sign of overfitting")
    return f"validation Dice {val:.3f} at epoch {last['epoch']} (training {train:.3f}): {verdict}"


def plot_predictions(model, images, masks, path, titles=("input", "ground truth",
                                                          "prediction", "overlay"),
                     dice=None) -> Path:
    """One row per image: input | ground truth | prediction | overlay of the prediction.

    ``images``: a list of ``(C, H, W)`` arrays; ``masks``: their ``(H, W)`` true masks. The
    predictions come from :func:`tinyunet.predict.predict` (whole image, eval mode).
    ``dice(pred, mask) -> float``, when given (the trainer passes validation's own score),
    puts each image's Dice under its prediction and their mean in the takeaway.
    """
    from .predict import predict

    plt = _pyplot()
    n = len(images)
    fig, axes = plt.subplots(n, 4, figsize=(10, 2.6 * n), squeeze=False)
    scores = []
    for row, (image, mask) in enumerate(zip(images, masks)):
        pred = predict(model, image)
        grey = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        vmax = max(int(mask.max()), int(pred.max()), 1)
        if dice is not None and pred.shape == mask.shape:
            scores.append(dice(pred, mask))
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
        if len(scores) == row + 1:
            axes[row, 2].set_xlabel(f"Dice {scores[-1]:.3f}")
    takeaway = "yellow = foreground; the overlay paints the prediction red on the input"
    if scores:
        takeaway = (f"Dice {np.mean(scores):.3f} over these {len(scores)} held-out images; "
                    + takeaway)
    fig.tight_layout()
    fig.text(0.5, 0, takeaway, ha="center", va="top", fontsize=10)  # under the figure
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # "tight" takes the takeaway in
    plt.close(fig)
    return path
