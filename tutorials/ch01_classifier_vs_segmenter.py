# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. A classifier answers once; a segmenter answers for every pixel
#
# A classifier turns a whole image into one label: to get there it pools and downsamples until
# the spatial grid collapses to a single vector, throwing away *where* on purpose. A segmenter
# must return an image the size of the input with a prediction in every pixel, a mask. This
# chapter runs the same input through both, built from the same encoder blocks, and counts
# what each one returns.
#
# The two models: [`Classifier`](../tinyunet/models/classifier.py#Classifier) (encoder, then
# global average pooling, then one linear layer) and [`UNet`](../tinyunet/models/unet.py#UNet)
# (encoder, decoder back up, a 1x1 head per pixel).

# %%
import numpy as np
from bookkit import fast_or_full, interact, show

import tinyunet as tu
import tinyunet.functional as F
from tinyunet import metrics, optim
from tinyunet.lab.common import batches, cells, seed_everything
from tinyunet.models import Classifier, UNet

SIZE, DEPTH = 64, 3
images, masks = cells(81, SIZE, seed=0)  # synthetic microscopy: 80 to train on, 1 to show
x, truth = images[-1:], masks[-1]
seed_everything(0)
classifier = Classifier(in_channels=1, num_classes=2, base_channels=8, depth=DEPTH)
segmenter = UNet(in_channels=1, num_classes=2, base_channels=8, depth=DEPTH, norm="batch")

# %% [markdown]
# ## Where the grid collapses
#
# Follow the classifier's feature maps stage by stage. Each encoder block is followed by a 2x2
# max-pool, which halves the grid; the last step, `x.mean(dim=(2, 3))`, averages the whole grid
# away in one go. After that there is no *where* left to predict.

# %%
stages = [("input", x[0, 0])]
with tu.no_grad():
    h = tu.Tensor(x)
    for k, block in enumerate(classifier.encoder):
        h = classifier.pool(block(h))
        stages.append((f"block {k} + pool", h.data[0].mean(axis=0)))
    pooled = h.mean(dim=(2, 3))
    stages.append(("global average", pooled.data[0].mean(keepdims=True)[None]))
    class_logits = classifier.fc(pooled)
for name, fmap in stages:
    print(f"{name:<16} grid {fmap.shape[0]:>2} x {fmap.shape[1]:<2} = {fmap.size:>5} positions")


def draw_stage(ax, stage):
    name, fmap = stages[stage]
    ax.imshow(fmap, cmap="magma")
    ax.set_title(f"{name}: {fmap.shape[0]}x{fmap.shape[1]}", fontsize=10)
    ax.set_xlabel("column (position)")
    ax.set_ylabel("row (position)")
    if fmap.size == 1:
        ax.set_xticks([0])
        ax.set_yticks([0])


interact(draw_stage, title="the classifier's grid, stage by stage (mean over channels)",
         stage=list(range(len(stages))))

# %% [markdown]
# ## The segmenter keeps every pixel
#
# The U-Net's decoder grows the grid back to 64x64 and its 1x1 head gives two logits in every
# pixel. We train it briefly on the synthetic cells (cross-entropy per pixel, Adam) so that its
# mask looks like one; the classifier stays untrained, because its single box is the point,
# not its answer.

# %%
optimizer = optim.Adam(segmenter.parameters(), lr=3e-3)
data = batches(images[:-1], masks[:-1], batch_size=8, seed=0)
for _ in range(fast_or_full(100, 300)):
    xb, yb = next(data)
    optimizer.zero_grad()
    loss = F.cross_entropy(segmenter(tu.Tensor(xb)), yb)
    loss.backward()
    optimizer.step()
segmenter.eval()
with tu.no_grad():
    mask_logits = segmenter(tu.Tensor(x)).data
    class_probs = F.softmax(class_logits, dim=1).data
mask = mask_logits.argmax(axis=1)[0]
dice = metrics.dice(mask, truth)
print("classifier output", class_probs.shape, "=", class_probs.size, "values per image")
print("segmenter output ", mask_logits.shape, "=", mask_logits[0].size, "values per image")
print(f"segmenter Dice on the held-out image: {dice:.3f} (final training loss {loss.item():.3f})")

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(1, 3, figsize=(12, 4.2), layout="constrained")
ax[0].imshow(x[0, 0], cmap="gray")
ax[0].set_title(f"input {tuple(x.shape)}")
ax[1].set_xlim(0, 1)
ax[1].set_ylim(0, 1)
ax[1].add_patch(plt.Rectangle((0.25, 0.25), 0.5, 0.5, color="tab:orange"))
label = int(class_probs.argmax())
ax[1].text(0.5, 0.5, f"class {label}\np = {class_probs[0, label]:.2f}", ha="center",
           va="center", fontsize=13)
ax[1].set_title(f"classifier: {class_probs.size} values\n(one label for the whole image)")
ax[2].imshow(mask, cmap="gray", vmin=0, vmax=1)
ax[2].contour(truth, levels=[0.5], colors="tab:red", linewidths=0.8)
ax[2].set_title(f"segmenter: {mask_logits[0].size:,} values\n(mask; red = true outline, "
                f"Dice {dice:.2f})")
for a in ax:
    a.set_xlabel("column (pixel)")
    a.set_ylabel("row (pixel)")
ax[1].set_xticks([])
ax[1].set_yticks([])
ax[1].set_xlabel("no pixels left")
ax[1].set_ylabel("")
show(fig, f"Same input, same encoder: the classifier returns {class_probs.size} numbers, the "
          f"segmenter {mask_logits[0].size:,}, one pair per pixel.")

# %% [markdown]
# ## What this chapter showed, as asserts

# %%
assert class_probs.shape == (1, 2) and mask_logits.shape == (1, 2, SIZE, SIZE)
assert class_probs.size == 2 and mask_logits[0].size == 2 * SIZE * SIZE == 8192
assert [fmap.shape[0] for _, fmap in stages] == [64, 32, 16, 8, 1]
assert np.isclose(class_probs.sum(), 1.0)
assert dice > 0.8, dice  # a short training already draws the cells
print("chapter 1: all asserts hold")
