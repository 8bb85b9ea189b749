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
# # 5. The whole U, trained: watch the mask sharpen
#
# Down the encoder, across the bottleneck, up the decoder, with the rungs carrying detail
# across: now the complete network learns. Every step is the chapter-0 walk at scale: a
# forward pass through [`UNet.forward`](../tinyunet/models/unet.py#UNet.forward), a per-pixel
# cross-entropy, one backward through every conv, pool, cat and transposed conv, and an Adam
# update. We keep the prediction for one held-out image at a few steps along the way.

# %%
import numpy as np
from bookkit import fast_or_full, interact, show

import tinyunet as tu
import tinyunet.functional as F
from tinyunet import metrics, optim
from tinyunet.lab.common import batches, cells, seed_everything
from tinyunet.models import UNet

SIZE, STEPS = 64, fast_or_full(80, 600)
images, masks = cells(fast_or_full(64, 256), SIZE, seed=0)
val_images, val_masks = cells(16, SIZE, seed=10_000)
seed_everything(0)
model = UNet(in_channels=1, num_classes=2, base_channels=8, depth=3, norm="batch")
optimizer = optim.Adam(model.parameters(), lr=3e-3)
n_params = sum(p.numel() for p in model.parameters())
print(f"U-Net, depth 3, base 8: {n_params:,} parameters; {STEPS} steps of 8 images "
      f"{SIZE}x{SIZE}")

# %% [markdown]
# The reference U-Net of the project (base 16, depth 4) is the same code with more channels:

# %%
reference_params = sum(p.numel() for p in UNet(1, 2, 16, 4).parameters())
print(f"reference U-Net: {reference_params:,} parameters")

# %% [markdown]
# ## The training loop, written out


# %%
def validate():
    model.eval()  # BatchNorm uses its running statistics
    with tu.no_grad():
        prob = F.softmax(model(tu.Tensor(val_images)), dim=1).data[:, 1]
    model.train()
    return prob, metrics.dice((prob > 0.5).astype(np.int64), val_masks)


snap_at = sorted({0, 5, 15, STEPS // 4, STEPS // 2, STEPS})
snapshots, losses, curve = {}, [], []
data = batches(images, masks, batch_size=8, seed=0)
for step in range(STEPS + 1):
    if step in snap_at:
        prob, dice = validate()
        snapshots[step] = prob[0]
        curve.append((step, dice))
        print(f"step {step:>4}: validation Dice {dice:.3f}")
    if step == STEPS:
        break
    x, y = next(data)
    optimizer.zero_grad()
    loss = F.cross_entropy(model(tu.Tensor(x)), y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

# %% [markdown]
# ## The slider: training step
#
# The held-out image's predicted probability of *cell*, at each kept step. At step 0 the
# network is a random function; the blobs appear first, the boundaries tighten last. (The
# Dice curve may first *fall*: an untrained network calls many pixels cell and overlaps the
# cells by luck, and the first thing it learns is the easy answer, background. Then the cells.)


# %%
def draw_step(ax, step):
    ax.imshow(snapshots[step], cmap="gray", vmin=0, vmax=1)
    ax.contour(val_masks[0], levels=[0.5], colors="tab:red", linewidths=0.7)
    ax.set_title(f"step {step}: Dice {dict(curve)[step]:.2f}", fontsize=10)
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")


interact(draw_step, title="p(cell) on a held-out image (red: true outline)",
         step=list(snapshots))

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
ax[0].plot(range(1, len(losses) + 1), losses, color="tab:blue", lw=1)
ax[0].set_xlabel("training step")
ax[0].set_ylabel("cross-entropy (nats per pixel)", color="tab:blue")
ax[0].set_title("training loss and validation Dice")
twin = ax[0].twinx()
twin.plot(*zip(*curve), "o-", color="tab:red")
twin.set_ylabel("validation Dice (16 held-out images)", color="tab:red")
twin.set_ylim(0, 1)
shown = list(snapshots)
strip = np.concatenate([snapshots[s] for s in shown], axis=1)
ax[1].imshow(strip, cmap="gray", vmin=0, vmax=1)
ax[1].set_xticks([SIZE * (i + 0.5) for i in range(len(shown))], [f"step {s}" for s in shown])
ax[1].set_yticks([])
ax[1].set_title("p(cell) on one held-out image")
show(fig, f"The loss falls and the mask sharpens: validation Dice {curve[0][1]:.2f} at step 0, "
          f"{curve[-1][1]:.2f} after {STEPS} steps.")

# %% [markdown]
# ## What this chapter showed, as asserts

# %%
assert reference_params == 1_940_834
assert curve[-1][1] > 0.8 and curve[-1][1] > curve[0][1] + 0.3, curve
assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
print("chapter 5: all asserts hold")
