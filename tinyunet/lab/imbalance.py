"""Experiment ``imbalance``: pixel accuracy flatters a model that finds nothing; Dice does not.

1. The lesson's case: a 10 x 10 image with a 4-pixel tumor and a prediction of all
   background. Pixel accuracy 96/100 = 0.96; Dice = 2*0 / (0 + 4) = 0.
2. The curve: the same all-background prediction against a tumor covering a fraction f of
   the image. Accuracy is 1 - f, climbing to 1 as the tumor shrinks; Dice stays at 0.
3. Training: a small U-Net on synthetic cells covering 1.5 % of each image, with the same
   budget under three losses: cross-entropy (averaged over pixels, so the rare class barely
   moves it), soft Dice (overlap of the foreground only) and CE + Dice. Reported: the Dice,
   pixel accuracy and predicted foreground fraction each reaches on held-out images.

   Twice: without normalisation and with BatchNorm. Read the numbers a run writes
   (``imbalance.json``) rather than any quoted here: which losses fall into the trap within
   the budget changes with the normalisation, the budget and the seed. What holds is
   the shape of the trap, which tests/test_lab.py pins: without a norm and on a short budget,
   cross-entropy calls no pixel cell (pixel accuracy above 0.97, Dice near 0) while soft Dice
   finds cells. The trap is real -- a loss can look fine while the model finds nothing -- but
   it is a plateau of training, not the minimum of cross-entropy (chapter 7 of the book shows
   both, and soft Dice's mirror image: it starts by calling everything foreground).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import metrics, optim
from ..grad_mode import no_grad
from ..models import UNet
from ..tensor import Tensor
from .common import (
    Outcome,
    Stopwatch,
    batches,
    cells,
    choose_settings,
    jsonable,
    pyplot,
    seed_everything,
)

DEFAULT = dict(size=48, foreground=0.015, depth=2, base_channels=8, steps=100, batch_size=8,
               lr=3e-3, n_train=64, n_test=32, norms=(None, "batch"), curve_side=100)
FULL = dict(size=64, depth=3, steps=400, n_train=192, n_test=64)

LOSSES = {
    "cross_entropy": lambda logits, y: F.cross_entropy(logits, y),
    "dice": lambda logits, y: F.dice_loss(logits, y),
    "dice_ce": lambda logits, y: F.dice_ce_loss(logits, y),
}


def lesson_case() -> dict:
    """A 10 x 10 image, a 2 x 2 tumor, a prediction of all background."""
    truth = np.zeros((10, 10), dtype=np.int64)
    truth[4:6, 4:6] = 1
    nothing = np.zeros_like(truth)
    return {"pixels": truth.size, "tumor_pixels": int(truth.sum()),
            "pixel_accuracy": float(metrics.pixel_accuracy(nothing, truth)),
            "dice": float(metrics.dice(nothing, truth))}


def all_background_curve(side: int = 100) -> dict:
    """Accuracy and Dice of the all-background prediction as the tumor's share grows."""
    fractions, accuracy, dice = [], [], []
    for tumor_pixels in np.unique(np.geomspace(1, side * side // 2, 25).astype(int)):
        truth = np.zeros(side * side, dtype=np.int64)
        truth[:tumor_pixels] = 1  # where the tumor is does not matter to either score
        truth = truth.reshape(side, side)
        nothing = np.zeros_like(truth)
        fractions.append(tumor_pixels / truth.size)
        accuracy.append(float(metrics.pixel_accuracy(nothing, truth)))
        dice.append(float(metrics.dice(nothing, truth)))
    return {"tumor_fraction": fractions, "pixel_accuracy": accuracy, "dice": dice}


def train_with(loss_name: str, norm, images, masks, s: dict, seed: int) -> UNet:
    seed_everything(seed)  # same initial weights and batches for every loss
    model = UNet(1, 2, s["base_channels"], s["depth"], norm=norm)
    optimizer = optim.Adam(model.parameters(), lr=s["lr"])
    loss_fn = LOSSES[loss_name]
    data = batches(images, masks, s["batch_size"], seed)
    for _ in range(s["steps"]):
        x, y = next(data)
        optimizer.zero_grad()
        loss = loss_fn(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()
    return model


def imbalance(seed: int = 0, full: bool = False, **settings) -> Outcome:
    s = choose_settings("imbalance", DEFAULT, FULL, full, settings)
    clock = Stopwatch()
    images, masks = cells(s["n_train"], s["size"], seed, foreground=s["foreground"])
    test_images, test_masks = cells(s["n_test"], s["size"], seed + 10_000,
                                    foreground=s["foreground"])

    training, preds = {}, {}
    for norm in s["norms"]:
        key = "no_norm" if norm is None else f"{norm}_norm"
        training[key], preds[key] = {}, {}
        for name in LOSSES:
            model = train_with(name, norm, images, masks, s, seed).eval()
            with no_grad():
                pred = model(Tensor(test_images)).data.argmax(axis=1)
            preds[key][name] = pred
            training[key][name] = {
                "dice": float(metrics.dice(pred, test_masks)),
                "pixel_accuracy": float(metrics.pixel_accuracy(pred, test_masks)),
                "predicted_foreground": float(pred.mean())}

    numbers = jsonable({
        "experiment": "imbalance", "seed": seed, "settings": s,
        "lesson_case": lesson_case(),
        "all_background_curve": all_background_curve(s["curve_side"]),
        "true_foreground": float(test_masks.mean()),
        "all_background_on_test": {
            "dice": float(metrics.dice(np.zeros_like(test_masks), test_masks)),
            "pixel_accuracy": float(metrics.pixel_accuracy(np.zeros_like(test_masks),
                                                           test_masks))},
        "training": training,
        "seconds": clock.seconds,
    })

    def draw():
        return _figure(numbers, test_images[0, 0], test_masks[0],
                       {norm: {loss: p[0] for loss, p in per_loss.items()}
                        for norm, per_loss in preds.items()})

    return Outcome(numbers, draw)


def _figure(numbers, image, mask, preds):
    plt = pyplot()
    norms, losses = list(preds), list(LOSSES)
    mosaic = [["curve", "bars", "image"] + [f"{n}/{loss}" for loss in losses] for n in norms]
    if len(norms) == 1:
        mosaic.append(["curve", "bars", "truth"] + ["."] * len(losses))
    else:
        mosaic[1][2] = "truth"
        for row in mosaic[2:]:
            row[2] = "."
    fig = plt.figure(figsize=(19, 3.2 * max(2, len(norms))), layout="constrained")
    ax = fig.subplot_mosaic(mosaic, width_ratios=[2.2, 2.2, 1] + [1] * len(losses))

    curve, case = numbers["all_background_curve"], numbers["lesson_case"]
    ax["curve"].semilogx(curve["tumor_fraction"], curve["pixel_accuracy"], "o-", ms=3,
                         label="pixel accuracy")
    ax["curve"].semilogx(curve["tumor_fraction"], curve["dice"], "s-", ms=3, label="Dice")
    ax["curve"].plot([case["tumor_pixels"] / case["pixels"]], [case["pixel_accuracy"]], "k*",
                     ms=10, label="4 px of 100: accuracy {:.2f}, Dice {:.0f}".format(
                         case["pixel_accuracy"], case["dice"]))
    ax["curve"].set_xlabel("tumor fraction of the image")
    ax["curve"].set_title("a model that predicts all background")
    ax["curve"].legend(fontsize=8)

    width = 0.8 / len(norms)
    xs = np.arange(len(losses))
    for i, norm in enumerate(norms):
        dice = [numbers["training"][norm][loss]["dice"] for loss in losses]
        bars = ax["bars"].bar(xs + (i - (len(norms) - 1) / 2) * width, dice, width, label=norm)
        ax["bars"].bar_label(bars, fmt="%.2f", fontsize=7)
    ax["bars"].set_xticks(xs, losses)
    ax["bars"].set_ylim(0, 1.05)
    ax["bars"].set_ylabel("test Dice")
    ax["bars"].legend(fontsize=8)
    ax["bars"].set_title("{:.1%} foreground, equal budgets".format(numbers["true_foreground"]))

    panels = {"image": ("test image", image), "truth": ("ground truth", mask)}
    panels.update({f"{n}/{loss}": (f"{loss}, {n}", preds[n][loss]) for n in norms
                   for loss in losses})
    for key, (title, img) in panels.items():
        ax[key].imshow(img, cmap="gray")
        ax[key].set_title(title, fontsize=9)
        ax[key].set_xticks([])
        ax[key].set_yticks([])
    return fig
