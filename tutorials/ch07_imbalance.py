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
# # 7. Cross-entropy vs Dice under class imbalance
#
# The obvious loss for a per-pixel prediction is the per-pixel cross-entropy. The trap: when the
# thing you care about is tiny, a model that finds *nothing* looks good. This chapter checks
# the lesson's arithmetic, then trains the same small U-Net three ways on cells covering
# 1.5 % of each image, and reports what it measured, which is sharper than the usual story:
#
# * "accuracy flatters, Dice does not" holds exactly, as arithmetic;
# * "cross-entropy cannot find a small tumour" is not about CE's *minimum* (a model that finds
#   the cells has a lower CE than one that finds nothing); it is a *plateau*: training empties
#   the mask within a few steps and then spends its steps becoming a better constant;
# * soft Dice has the mirror-image trap: it starts out calling *everything* foreground.
#
# The losses: [`cross_entropy`](../tinyunet/ops/cross_entropy.py#cross_entropy),
# [`dice_loss`](../tinyunet/ops/dice.py#dice_loss) (soft Dice, [`SoftDice`](../tinyunet/ops/dice.py#SoftDice))
# and [`dice_ce_loss`](../tinyunet/ops/dice.py#dice_ce_loss).

# %%
import numpy as np
from bookkit import FAST, fast_or_full, interact, show

import tinyunet as tu
import tinyunet.functional as F
from tinyunet import metrics, optim
from tinyunet.lab.common import batches, cells, seed_everything
from tinyunet.lab.imbalance import LOSSES, all_background_curve, lesson_case
from tinyunet.models import UNet

# %% [markdown]
# ## The lesson's arithmetic
#
# A 10 x 10 image, a 4-pixel tumour, a prediction of all background: 96 of 100 pixels are
# right, and the overlap with the tumour is empty, Dice = 2 x 0 / (0 + 4) = 0
# ([`lesson_case`](../tinyunet/lab/imbalance.py#lesson_case), scored by `tinyunet.metrics`).

# %%
case = lesson_case()
curve = all_background_curve(100)
print(case)

# %% [markdown]
# ## The slider: the tumour's share of the image


# %%
def draw_share(ax, tumor_percent):
    side = 100
    truth = np.zeros((side, side), dtype=np.int64)
    k = int(round(np.sqrt(tumor_percent / 100) * side))  # a k x k square tumour
    truth[30:30 + k, 30:30 + k] = 1
    nothing = np.zeros_like(truth)
    ax.imshow(truth, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"tumour {truth.mean():.2%}: accuracy {metrics.pixel_accuracy(nothing, truth):.3f},"
                 f" Dice {metrics.dice(nothing, truth):.0f}", fontsize=9)
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")


interact(draw_share, title="the model predicts all background (white = true tumour)",
         tumor_percent=[16.0, 4.0, 1.0, 0.25])

# %% [markdown]
# ## Training three ways
#
# The same U-Net (same initial weights, batches and steps, no normalisation layers) trained
# with each loss on cells that cover 1.5 % of the image. Every 10 steps we look at held-out
# images: the fraction of pixels the model calls cell, the Dice, and the cross-entropy.

# %%
SIZE, STEPS = fast_or_full(32, 48), fast_or_full(120, 600)
images, masks = cells(64, SIZE, seed=0, foreground=0.015)
test_images, test_masks = cells(32, SIZE, seed=10_000, foreground=0.015)
f = masks.mean()
entropy = -(f * np.log(f) + (1 - f) * np.log(1 - f))  # CE of the best constant answer
print(f"training foreground {f:.4f}; CE of the best all-background answer H(f) = {entropy:.4f}")

history = {}
for name, loss_fn in LOSSES.items():
    seed_everything(0)
    model = UNet(1, 2, base_channels=8, depth=2)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    data = batches(images, masks, batch_size=8, seed=0)
    rows = []
    for step in range(STEPS + 1):
        if step % 10 == 0:
            with tu.no_grad():
                logits = model(tu.Tensor(test_images))
            pred = logits.data.argmax(axis=1)
            rows.append((step, pred.mean(), metrics.dice(pred, test_masks),
                         F.cross_entropy(logits, test_masks).item()))
        if step == STEPS:
            break
        x, y = next(data)
        optimizer.zero_grad()
        loss_fn(model(tu.Tensor(x)), y).backward()
        optimizer.step()
    history[name] = np.array(rows)
    s, frac, dice, ce = history[name][-1]
    print(f"{name:<14} after {int(s)} steps: calls {frac:.2%} of pixels cell, Dice {dice:.3f}, "
          f"test CE {ce:.4f}")

# %% [markdown]
# Is "all background" where cross-entropy *wants* to be? No. The CE-trained model's mask is
# empty from the first steps on, while its CE creeps down toward `H(f)`, the CE of the best
# *constant* answer (call every pixel cell with probability f): it learns where cells are
# likely, but not enough to call any pixel cell. A prediction shaped like the truth (logits +4
# on cells, -4 elsewhere) has a far lower CE than any constant, so the empty mask is a plateau
# on the way, not where CE leads. Given enough steps training leaves it: in the full run of
# `make book` (600 steps on 48 x 48 images) the CE-trained model ends up finding the cells;
# the fast run (120 steps) stops while it is still on the plateau.

# %%
truth_shaped = np.where(test_masks[:, None] == np.arange(2)[None, :, None, None], 4.0, -4.0)
ce_truth = F.cross_entropy(truth_shaped, test_masks).item()
ce_at_100 = history["cross_entropy"][10]  # step 100
print(f"CE-trained model at step 100: test CE {ce_at_100[3]:.4f}, calls {ce_at_100[1]:.2%} of "
      f"pixels cell\nbest constant answer H(f) {entropy:.4f}; truth-shaped prediction "
      f"{ce_truth:.4f}")

# %%
import matplotlib.pyplot as plt  # noqa: E402

colours = {"cross_entropy": "tab:blue", "dice": "tab:orange", "dice_ce": "tab:green"}
styles = {"cross_entropy": "o-", "dice": "o-", "dice_ce": "x--"}  # CE + Dice runs close to CE
fig, ax = plt.subplots(1, 3, figsize=(16, 4.4), layout="constrained")
ax[0].semilogx(curve["tumor_fraction"], curve["pixel_accuracy"], "o-", ms=3,
               label="pixel accuracy")
ax[0].semilogx(curve["tumor_fraction"], curve["dice"], "s-", ms=3, label="Dice")
ax[0].plot([case["tumor_pixels"] / case["pixels"]], [case["pixel_accuracy"]], "k*", ms=11,
           label=f"4 px of 100: accuracy {case['pixel_accuracy']:.2f}, Dice {case['dice']:.0f}")
ax[0].set_xlabel("tumour share of the image")
ax[0].set_ylabel("score of the all-background answer")
ax[0].set_title("the arithmetic: accuracy flatters")
ax[0].legend(fontsize=8)
for name, h in history.items():
    ax[1].plot(h[:, 0], np.maximum(h[:, 1], 1e-4), styles[name], ms=4, color=colours[name],
               label=name)
    ax[2].plot(h[:, 0], h[:, 3], styles[name], ms=4, color=colours[name], label=name)
ax[1].axhline(f, color="k", ls="--", lw=1, label=f"true share {f:.1%}")
ax[1].set_yscale("log")
ax[1].set_ylim(5e-5, 2)
ax[1].set_xlabel("training step")
ax[1].set_ylabel("share of test pixels called cell (floor 1e-4 = none)")
ax[1].set_title("CE falls to 'nothing'; soft Dice starts at 'everything'")
ax[1].legend(fontsize=8)
ax[2].axhline(entropy, color="k", ls="--", lw=1, label="best all-background answer H(f)")
ax[2].axhline(ce_truth, color="tab:red", ls=":", lw=1.2, label="truth-shaped prediction")
ax[2].set_yscale("log")
ax[2].set_xlabel("training step")
ax[2].set_ylabel("cross-entropy on test images (nats per pixel)")
ax[2].set_title("test CE; CE's minimum (truth-shaped, red)\nlies far below the empty-mask plateau")
ax[2].legend(fontsize=8)
show(fig, "Accuracy flatters an empty answer; CE training first stalls on an empty mask (not "
          "CE's minimum), and soft Dice first calls everything cell.")

# %% [markdown]
# What to take away. Overlap scores are the right *metric* for a rare class, always. As a
# *loss*, each has its trap: cross-entropy can stall on "nothing" (normalisation layers,
# class weights or more steps usually get it off; the lab shows BatchNorm doing it), soft Dice
# can start from "everything" and is noisy when the object is tiny. CE + Dice is the common
# compromise; whether it escapes faster depends on the run, so measure it on your data.
#
# ## What this chapter showed, as asserts

# %%
assert case["pixel_accuracy"] == 0.96 and case["dice"] == 0.0
assert all(d == 0 for d in curve["dice"])
assert np.allclose(curve["pixel_accuracy"], 1 - np.array(curve["tumor_fraction"]))
ce_hist, dice_hist = history["cross_entropy"], history["dice"]
assert ce_hist[10, 0] == 100 and ce_hist[10, 1] < 1e-3  # CE: nothing called cell at step 100
assert ce_truth < 0.1 * entropy  # while CE's minimum lies far below any constant answer
if not FAST:  # the full run is long enough to leave the plateau (the text says so)
    assert ce_hist[-1, 2] > 0.5
assert dice_hist[1, 1] > 0.5  # soft Dice at step 10: more than half the pixels called cell
assert dice_hist[-1, 2] > 0.4  # and soft Dice does find the cells in the end
print("chapter 7: all asserts hold")
