"""Experiment ``blur``: an encoder-decoder without skips blurs, and more so the deeper it goes.

The lesson: the decoder of a plain encoder-decoder sees only the bottleneck, which pooling has
shrunk to a few positions; it must guess the fine detail, and its best guess is a smooth
average, so sharp boundaries come out smeared. The deeper the bottleneck, the worse.

The test of it: the easiest possible task, *reproduce the input mask* (an autoencoder of
crisp cell masks: the answer is in the input), with EncoderDecoder models of bottleneck depth
1, 2, 3, 4 (an S x S input shrinks to S/2, ..., S/16), each trained with the same budget
(steps, batch, learning rate, seed). On held-out masks it reports

* edge sharpness: the mean jump of the predicted probability across the true boundary
  (1 for a crisp step in the right place), see ``boundary.py``;
* boundary F1 (1-pixel tolerance) and Dice of the thresholded mask.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import metrics, optim
from ..grad_mode import no_grad
from ..models import EncoderDecoder
from ..tensor import Tensor
from .boundary import boundary_f1, edge_sharpness
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

DEFAULT = dict(size=32, depths=(1, 2, 3, 4), base_channels=8, steps=150, batch_size=8,
               lr=3e-3, n_train=64, n_test=16, norm="batch")
FULL = dict(size=64, steps=600, n_train=256, n_test=32)


def train_autoencoder(depth: int, masks: np.ndarray, s: dict, seed: int):
    """An EncoderDecoder of this depth, trained to output its input mask (cross-entropy)."""
    seed_everything(seed)  # the same initial draw and batches for every depth
    model = EncoderDecoder(in_channels=1, num_classes=2, base_channels=s["base_channels"],
                           depth=depth, norm=s["norm"])
    optimizer = optim.Adam(model.parameters(), lr=s["lr"])
    inputs = masks[:, None].astype(np.float32)  # the mask itself is the input image
    data = batches(inputs, masks, s["batch_size"], seed)
    for _ in range(s["steps"]):
        x, y = next(data)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()
    return model


def foreground_probability(model, masks: np.ndarray) -> np.ndarray:
    """p(foreground) per pixel for the masks as inputs, (N, H, W)."""
    model.eval()  # BatchNorm: the running statistics, not the test batch's
    with no_grad():
        logits = model(Tensor(masks[:, None].astype(np.float32)))
    return F.softmax(logits, dim=1).data[:, 1]


def blur(seed: int = 0, full: bool = False, **settings) -> Outcome:
    s = choose_settings("blur", DEFAULT, FULL, full, settings)
    clock = Stopwatch()
    _, train_masks = cells(s["n_train"], s["size"], seed)
    _, test_masks = cells(s["n_test"], s["size"], seed + 10_000)

    rows, probs = [], {}
    for depth in s["depths"]:
        model = train_autoencoder(depth, train_masks, s, seed)
        p = foreground_probability(model, test_masks)
        pred = (p > 0.5).astype(np.int64)
        probs[depth] = p
        rows.append({"depth": depth, "bottleneck": s["size"] // 2**depth,
                     "edge_sharpness": edge_sharpness(p, test_masks),
                     "boundary_f1": boundary_f1(pred, test_masks),
                     "dice": float(metrics.dice(pred, test_masks))})

    numbers = jsonable({"experiment": "blur", "seed": seed, "settings": s, "per_depth": rows,
                        "seconds": clock.seconds})

    def draw():
        return _figure(test_masks[0], {d: p[0] for d, p in probs.items()}, rows)

    return Outcome(numbers, draw)


def _figure(mask, probs, rows):
    plt = pyplot()
    n = len(probs)
    fig, ax = plt.subplots(1, n + 2, figsize=(2.6 * (n + 2), 3.2), layout="constrained")
    ax[0].imshow(mask, cmap="gray", vmin=0, vmax=1)
    ax[0].set_title("crisp input = target")
    for a, (depth, p) in zip(ax[1:], probs.items()):
        a.imshow(p, cmap="gray", vmin=0, vmax=1)
        a.set_title(f"depth {depth}: {mask.shape[0] // 2**depth}x{mask.shape[1] // 2**depth} "
                    "bottleneck", fontsize=9)
    for a in ax[:-1]:
        a.set_xticks([])
        a.set_yticks([])
    depths = [r["depth"] for r in rows]
    for key, marker in (("edge_sharpness", "o-"), ("boundary_f1", "s-"), ("dice", "^-")):
        ax[-1].plot(depths, [r[key] for r in rows], marker, label=key.replace("_", " "))
    ax[-1].set_xticks(depths)
    ax[-1].set_xlabel("bottleneck depth")
    ax[-1].set_ylim(0, 1.02)
    ax[-1].legend(fontsize=8)
    ax[-1].set_title("no skips: deeper = blurrier")
    fig.suptitle("a plain encoder-decoder asked to reproduce a crisp mask, equal budgets")
    return fig
