"""Experiment ``shapes``: a classifier answers once per image, a segmenter once per pixel.

The same input goes through two networks with the same encoder:

* ``Classifier``: the encoder, then global average pooling, which collapses the spatial grid,
  then one linear layer: output (N, classes), one label for the whole image;
* ``UNet``: the encoder, a decoder back to full resolution, a 1 x 1 head: output
  (N, classes, H, W), one prediction for every pixel -- a mask.

The numbers are the output shapes and how many values each network returns per image. The
segmenter is trained for a few steps on synthetic cells so that its mask looks like one; the
classifier is left untrained (its one box is the point, not its answer).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import metrics, optim
from ..grad_mode import no_grad
from ..models import Classifier, UNet
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

DEFAULT = dict(size=64, depth=3, base_channels=8, num_classes=2, steps=80, batch_size=8,
               lr=3e-3, n_train=48)
FULL = dict(size=128, base_channels=16, steps=200, n_train=160)


def shapes(seed: int = 0, full: bool = False, **settings) -> Outcome:
    s = choose_settings("shapes", DEFAULT, FULL, full, settings)
    clock = Stopwatch()
    images, masks = cells(s["n_train"] + 1, s["size"], seed)
    x, truth = images[-1:], masks[-1]  # the shown image is not trained on
    seed_everything(seed)
    classifier = Classifier(1, s["num_classes"], s["base_channels"], s["depth"])
    segmenter = UNet(1, s["num_classes"], s["base_channels"], s["depth"])

    optimizer = optim.Adam(segmenter.parameters(), lr=s["lr"])
    data = batches(images[:-1], masks[:-1], s["batch_size"], seed)
    for _ in range(s["steps"]):
        xb, yb = next(data)
        optimizer.zero_grad()
        loss = F.cross_entropy(segmenter(Tensor(xb)), yb)
        loss.backward()
        optimizer.step()

    with no_grad():
        class_probs = F.softmax(classifier(Tensor(x)), dim=1).data
        mask_logits = segmenter(Tensor(x)).data
    mask = mask_logits.argmax(axis=1)[0]
    numbers = jsonable({
        "experiment": "shapes", "seed": seed, "settings": s,
        "input_shape": list(x.shape),
        "classifier_output_shape": list(class_probs.shape),
        "segmenter_output_shape": list(mask_logits.shape),
        "classifier_values_per_image": int(np.prod(class_probs.shape[1:])),
        "segmenter_values_per_image": int(np.prod(mask_logits.shape[1:])),
        "classifier_probabilities": class_probs[0],
        "segmenter_dice_on_shown_image": float(metrics.dice(mask, truth)),
        "seconds": clock.seconds,
    })
    return Outcome(numbers, lambda: _figure(x[0, 0], class_probs[0], mask, numbers))


def _figure(image, class_probs, mask, numbers):
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.8), layout="constrained")
    H, W = image.shape
    ax[0].imshow(image, cmap="gray")
    ax[0].set_title(f"input (1, 1, {H}, {W})")
    ax[1].set_xlim(0, 1)
    ax[1].set_ylim(0, 1)
    ax[1].add_patch(plt.Rectangle((0.3, 0.3), 0.4, 0.4, color="tab:orange"))
    label = int(np.argmax(class_probs))
    ax[1].text(0.5, 0.5, f"class {label}\np = {class_probs[label]:.2f}", ha="center",
               va="center", fontsize=12)
    ax[1].set_title("classifier: {} values\n(one label for the image; untrained)".format(
        numbers["classifier_values_per_image"]))
    ax[2].imshow(mask, cmap="gray", vmin=0, vmax=1)
    ax[2].set_title("segmenter: {} values\n(one prediction per pixel; mask shown)".format(
        numbers["segmenter_values_per_image"]))
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"classifier output {tuple(numbers['classifier_output_shape'])} vs "
                 f"segmenter output {tuple(numbers['segmenter_output_shape'])}")
    return fig
