"""Experiment ``skips``: the same U-Net with its skip connections on and off.

The lesson's one big idea: copy each encoder map across to the decoder at the same
resolution (``cat([d, s], dim=1)``), so the decoder refines with the fine detail the pooling
threw away. Without the copies the network is a plain encoder-decoder and its masks blur.

Two models, identical but for ``skips`` (same depth, widths, initial seed, batches, steps and
learning rate), trained on synthetic cells (image -> mask, cross-entropy) and scored on
held-out images: Dice, boundary F1 (1-pixel tolerance) and edge sharpness. The budget is the
same, the size is not: with skips the decoder's first conv of each level reads twice the
channels, so the U-Net has more parameters (``parameters`` in the numbers; chapter 4 of the
book adds a wider plain model that has more than the U-Net and still loses). The figure shows
the masks side by side and the three scores.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import metrics, optim
from ..grad_mode import no_grad
from ..models import UNet
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

DEFAULT = dict(size=48, depth=3, base_channels=8, steps=150, batch_size=8, lr=3e-3,
               n_train=64, n_test=16, norm="batch")
FULL = dict(size=64, base_channels=16, steps=500, n_train=256, n_test=32)


def train_unet(skips: bool, images, masks, s: dict, seed: int) -> UNet:
    seed_everything(seed)  # the same initial draw for both (the decoder's first convs differ
    #                        in width, so their weights are drawn from the same stream)
    model = UNet(1, 2, s["base_channels"], s["depth"], skips=skips, norm=s["norm"])
    optimizer = optim.Adam(model.parameters(), lr=s["lr"])
    data = batches(images, masks, s["batch_size"], seed)
    for _ in range(s["steps"]):
        x, y = next(data)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()
    return model


def skips(seed: int = 0, full: bool = False, **settings) -> Outcome:
    s = choose_settings("skips", DEFAULT, FULL, full, settings)
    clock = Stopwatch()
    images, masks = cells(s["n_train"], s["size"], seed)
    test_images, test_masks = cells(s["n_test"], s["size"], seed + 10_000)

    results, preds = {}, {}
    for name, on in (("skips_on", True), ("skips_off", False)):
        model = train_unet(on, images, masks, s, seed).eval()
        with no_grad():
            prob = F.softmax(model(Tensor(test_images)), dim=1).data[:, 1]
        pred = (prob > 0.5).astype(np.int64)
        preds[name] = pred
        results[name] = {"dice": float(metrics.dice(pred, test_masks)),
                         "boundary_f1": boundary_f1(pred, test_masks),
                         "edge_sharpness": edge_sharpness(prob, test_masks),
                         "parameters": sum(p.numel() for p in model.parameters())}

    numbers = jsonable({"experiment": "skips", "seed": seed, "settings": s, **results,
                        "seconds": clock.seconds})

    def draw():
        return _figure(test_images[:3, 0], test_masks[:3], {k: v[:3] for k, v in preds.items()},
                       results, s["steps"])

    return Outcome(numbers, draw)


def _figure(images, masks, preds, results, steps):
    plt = pyplot()
    n = len(images)
    fig, ax = plt.subplots(n, 5, figsize=(14, 2.6 * n), layout="constrained", squeeze=False,
                           width_ratios=[1, 1, 1, 1, 1.6])
    titles = ["input", "ground truth", "skips on", "skips off"]
    for i in range(n):
        for j, img in enumerate((images[i], masks[i], preds["skips_on"][i],
                                 preds["skips_off"][i])):
            ax[i, j].imshow(img, cmap="gray", vmin=0, vmax=1)
            ax[i, j].set_xticks([])
            ax[i, j].set_yticks([])
            if i == 0:
                ax[i, j].set_title(titles[j], fontsize=9)
    gs = ax[0, 4].get_gridspec()
    for a in ax[:, 4]:
        a.remove()
    bars = fig.add_subplot(gs[:, 4])
    keys = [("dice", "Dice"), ("boundary_f1", "boundary F1"), ("edge_sharpness", "edge sharpness")]
    xs = np.arange(len(keys))
    for k, name in enumerate(("skips_on", "skips_off")):
        b = bars.bar(xs + (k - 0.5) * 0.38, [results[name][key] for key, _ in keys], 0.38,
                     label="{} ({:,} parameters)".format(name.replace("_", " "),
                                                        results[name]["parameters"]))
        bars.bar_label(b, fmt="%.2f", fontsize=7)
    bars.set_xticks(xs, [label for _, label in keys])
    bars.set_ylim(0, 1.1)
    bars.set_ylabel("score over the held-out set (1 = perfect)")
    bars.legend(fontsize=7)
    fig.suptitle(f"the same U-Net but for its skips, trained alike ({steps} steps, same batches "
                 "and seed); the models differ in size: the decoder reads more channels with "
                 "skips")
    fig.supxlabel("Takeaway: with the skips the edges come back: higher Dice, boundary F1 and "
                  "edge sharpness.", fontsize=10)
    return fig
