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
# # 3. The bottleneck alone blurs
#
# A plain encoder-decoder hands its decoder one thing: the tiny bottleneck map. Everything the
# decoder draws at full resolution must be rebuilt from those few positions, and the fine
# detail was pooled away on the way down. Its best guess is a smooth average, so a sharp cell
# boundary comes out as a fuzzy ramp. The deeper the bottleneck, the worse.
#
# First the mechanism in four pixels, then the experiment: the easiest task there is, *give
# back the mask you were given*, for bottlenecks of shrinking size.

# %%
import numpy as np
from bookkit import fast_or_full, interact, show

import tinyunet.functional as F
from tinyunet import metrics
from tinyunet.lab.blur import DEFAULT, foreground_probability, train_autoencoder
from tinyunet.lab.boundary import boundary_f1, edge_sharpness
from tinyunet.lab.common import cells

# %% [markdown]
# ## What a 2x2 max-pool forgets
#
# Four 2x2 patches, each with one bright pixel in a different corner. Max-pool
# ([`max_pool2d`](../tinyunet/ops/pool.py#max_pool2d)) gives all four the same single value:
# *which* pixel was bright is gone, and anything upsampled from it can only spread the value
# evenly over the block.

# %%
patches = np.zeros((4, 1, 2, 2), dtype=np.float32)
for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
    patches[k, 0, i, j] = 1.0
pooled = F.max_pool2d(patches, 2).data
back_up = F.interpolate(pooled, scale_factor=2).data
print("pooled:", pooled.ravel(), "  upsampled back, each:", back_up[0, 0].ravel())

# %% [markdown]
# ## The experiment: reproduce a crisp mask
#
# An [`EncoderDecoder`](../tinyunet/models/unet.py#EncoderDecoder) (a U-Net without its skip
# connections) of depth 1 to 4 learns to output its own input, a cell mask. Same budget for
# every depth ([`train_autoencoder`](../tinyunet/lab/blur.py#train_autoencoder): steps, batch,
# learning rate and seed), scored on held-out masks. The *edge sharpness* is the mean jump of
# the predicted probability across the true boundary: 1 for a crisp step in the right place,
# near 0 for a smear ([`edge_sharpness`](../tinyunet/lab/boundary.py#edge_sharpness)).

# %%
SIZE = 32
settings = {**DEFAULT, "steps": fast_or_full(70, 400), "n_train": fast_or_full(64, 256)}
_, train_masks = cells(settings["n_train"], SIZE, seed=0)
_, test_masks = cells(16, SIZE, seed=10_000)
depths = [1, 2, 3, 4]
probs, rows = {}, []
for depth in depths:
    model = train_autoencoder(depth, train_masks, settings, seed=0)
    p = foreground_probability(model, test_masks)
    probs[depth] = p
    rows.append({"depth": depth, "bottleneck": SIZE // 2**depth,
                 "edge_sharpness": edge_sharpness(p, test_masks),
                 "boundary_f1": boundary_f1((p > 0.5).astype(np.int64), test_masks),
                 "dice": metrics.dice((p > 0.5).astype(np.int64), test_masks)})
    print("depth {depth}: bottleneck {bottleneck}x{bottleneck}, edge sharpness "
          "{edge_sharpness:.3f}, boundary F1 {boundary_f1:.3f}, Dice {dice:.3f}".format(**rows[-1]))

# %% [markdown]
# ## The slider: bottleneck size
#
# Left, what the decoder gives back; right, one row across the image: the true mask is a step,
# the prediction a ramp that widens as the bottleneck shrinks.

# %%
shown = 0
row = int(np.argmax(test_masks[shown].sum(axis=1)))  # the row crossing most cell pixels


def draw_bottleneck(axes, bottleneck):
    depth = int(np.log2(SIZE // bottleneck))
    p = probs[depth][shown]
    axes[0].imshow(p, cmap="gray", vmin=0, vmax=1)
    axes[0].axhline(row, color="tab:orange", lw=0.8)
    axes[0].set_title(f"bottleneck {bottleneck}x{bottleneck}: p(cell)", fontsize=10)
    axes[0].set_xlabel("column (pixel)")
    axes[0].set_ylabel("row (pixel)")
    axes[1].step(range(SIZE), test_masks[shown, row], where="mid", color="k", label="true mask")
    axes[1].plot(p[row], "o-", color="tab:orange", ms=3, label="prediction")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].set_xlabel("column (pixel) along the orange row")
    axes[1].set_ylabel("p(cell)")
    axes[1].legend(fontsize=7, loc="upper right")


interact(draw_bottleneck, panels=2, title="a crisp mask through a shrinking bottleneck",
         bottleneck=[16, 8, 4, 2])

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(1, 6, figsize=(17, 3.4), layout="constrained",
                       width_ratios=[1, 1, 1, 1, 1, 1.8])
ax[0].imshow(test_masks[shown], cmap="gray", vmin=0, vmax=1)
ax[0].set_title("input = target")
for a, depth in zip(ax[1:5], depths):
    a.imshow(probs[depth][shown], cmap="gray", vmin=0, vmax=1)
    a.set_title(f"out, bottleneck {SIZE // 2**depth}x{SIZE // 2**depth}", fontsize=10)
for a in ax[:5]:
    a.set_xticks([])
    a.set_yticks([])
sizes = [r["bottleneck"] for r in rows]
for key, marker in (("edge_sharpness", "o-"), ("boundary_f1", "s-"), ("dice", "^-")):
    ax[5].plot(sizes, [r[key] for r in rows], marker, label=key.replace("_", " "))
ax[5].set_xscale("log", base=2)
ax[5].set_xticks(sizes, [f"{s}x{s}" for s in sizes])
ax[5].invert_xaxis()
ax[5].set_xlabel("bottleneck size (positions per side)")
ax[5].set_ylabel("score on held-out masks (1 = perfect)")
ax[5].set_ylim(0, 1.02)
ax[5].legend(fontsize=8)
show(fig, "Without skips the decoder rebuilds edges from the bottleneck alone: the smaller it "
          f"is, the softer the edge (sharpness {rows[0]['edge_sharpness']:.2f} at "
          f"{sizes[0]}x{sizes[0]}, {rows[-1]['edge_sharpness']:.2f} at {sizes[-1]}x{sizes[-1]}).")

# %% [markdown]
# A note on what the numbers say. The edge sharpness falls at every step, as the lesson says;
# Dice, which counts area, holds up longer: a blurred blob thresholded at 0.5 still covers
# most of the cell. That is why the lab reports boundary measures beside Dice: blur shows at
# the edges first.
#
# ## What this chapter showed, as asserts

# %%
assert np.all(pooled == 1.0) and np.all(back_up == back_up[0])  # four inputs, one output
sharp = [r["edge_sharpness"] for r in rows]
assert all(a > b for a, b in zip(sharp, sharp[1:])), sharp  # deeper is blurrier, every step
assert sharp[0] > 2 * sharp[2] and sharp[-1] < 0.1
assert rows[0]["dice"] > rows[-1]["dice"]
print("chapter 3: all asserts hold")
