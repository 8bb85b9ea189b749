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
# # 4. Skip connections: context from below, detail from the side
#
# The detail the decoder needs still exists: in the encoder's early maps, before pooling threw
# it away. U-Net copies each encoder map across to the decoder level of the same resolution
# and stacks the two along the channels, `cat([d, s], dim=1)`, before the next convolution. The
# upsampled map `d` brings context, the copied map `s` brings the edges. In tinyunet those are
# the lines `saved.append(x)` and `x = self.skip[k](x, saved[k])` of [`UNet.forward`](../tinyunet/models/unet.py#UNet.forward),
# and the rung itself is [`SkipConnection`](../tinyunet/models/blocks.py#SkipConnection), a
# call to [`cat`](../tinyunet/ops/concat.py#cat). Everything at one resolution carries one
# level number k, counted from the top: `encoder.k`, `pool.k`, `ups.k`, `skip.k`, `decoder.k`.

# %%
import numpy as np
from bookkit import fast_or_full, interact, show

import tinyunet as tu
import tinyunet.functional as F
from tinyunet import metrics
from tinyunet.lab.boundary import boundary_f1, edge_sharpness
from tinyunet.lab.common import cells
from tinyunet.lab.skips import DEFAULT, train_unet
from tinyunet.models import UNet, trace

# %% [markdown]
# ## 256 + 128 = 384
#
# The lesson's example (its "decoder level 2", counting from 1; level k = 1 here, counting from
# 0): one level below the top of a U-Net with 64 base channels and a resize upsampler, on a
# 256 x 256 image. The upsampled map from below has 256 channels at 128 x 128,
# the encoder's map copied across has 128 channels at 128 x 128; stacked, the next conv sees
# 384. First the op alone, then inside the model (traced at 64 x 64 to keep it quick: the
# channel arithmetic does not depend on the image size).

# %%
d = tu.zeros(1, 256, 128, 128)  # upsampled from below: context
s = tu.zeros(1, 128, 128, 128)  # copied across the skip: detail
stacked = tu.cat([d, s], dim=1)
print("cat:", d.shape, "+", s.shape, "->", stacked.shape)
rungs = [r for r in trace(UNet(base_channels=64, depth=2, up_mode="bilinear"), (1, 1, 64, 64))
         if r.layer == "SkipConnection"]
for r in rungs:
    print(f"{r.name} at {r.output_shape[-1]} x {r.output_shape[-1]}: {r.channels}")
try:
    tu.cat([tu.zeros(1, 256, 64, 64), s], dim=1)
except ValueError as error:
    print("mismatched sizes:", error)

# %% [markdown]
# The sizes must match, which is why the encoder and decoder are mirror images. The gradient
# of `cat` simply splits: the first 256 channels of the incoming gradient go down to the
# decoder's path, the last 128 across the skip to the encoder ([`Cat.backward`](../tinyunet/ops/concat.py#Cat.backward)).
#
# ## Skips on and off, trained the same way
#
# Two U-Nets identical but for `skips` (same depth, widths, initial seed, batches, steps and
# learning rate; [`train_unet`](../tinyunet/lab/skips.py#train_unet)) learn to segment
# synthetic cells. One caveat the lab's first figure glossed over: they are *not* the same
# size, because with skips the decoder's first conv reads more channels. So a third model
# joins: no skips, but widened until it has more parameters than the U-Net.

# %%
settings = {**DEFAULT, "steps": fast_or_full(60, 400), "n_train": fast_or_full(64, 256)}
images, masks = cells(settings["n_train"], settings["size"], seed=0)
test_images, test_masks = cells(16, settings["size"], seed=10_000)
runs = {"skips on": (True, 8), "skips off": (False, 8), "skips off, wider": (False, 9)}
results, probs = {}, {}
for name, (on, base) in runs.items():
    model = train_unet(on, images, masks, {**settings, "base_channels": base}, seed=0).eval()
    with tu.no_grad():
        p = F.softmax(model(tu.Tensor(test_images)), dim=1).data[:, 1]
    pred = (p > 0.5).astype(np.int64)
    probs[name] = p
    results[name] = {"parameters": sum(q.numel() for q in model.parameters()),
                     "dice": metrics.dice(pred, test_masks),
                     "boundary_f1": boundary_f1(pred, test_masks),
                     "edge_sharpness": edge_sharpness(p, test_masks)}
    print("{:<17} {parameters:>7,} parameters  Dice {dice:.3f}  boundary F1 {boundary_f1:.3f}  "
          "edge sharpness {edge_sharpness:.3f}".format(name, **results[name]))

# %% [markdown]
# ## The slider: skips on / off


# %%
def draw_skips(axes, skips):
    name = "skips on" if skips == "on" else "skips off"
    axes[0].imshow(test_masks[0], cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("ground truth", fontsize=10)
    axes[1].imshow(probs[name][0], cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"{name}: p(cell)", fontsize=10)
    for a in axes:
        a.set_xlabel("column (pixel)")
        a.set_ylabel("row (pixel)")


interact(draw_skips, panels=2, title="held-out image 0", skips=["on", "off"])

# %%
import matplotlib.pyplot as plt  # noqa: E402

names = list(runs)
fig = plt.figure(figsize=(15, 5.2), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1.5, 1])
ax = left.subplots(2, 4)
for i in range(2):
    panels = [("input", test_images[i, 0], "gray"), ("ground truth", test_masks[i], "gray")]
    panels += [(n, probs[n][i], "gray") for n in ("skips on", "skips off")]
    for j, (title, img, cmap) in enumerate(panels):
        ax[i, j].imshow(img, cmap=cmap, vmin=0 if j else None, vmax=1 if j else None)
        ax[i, j].set_xticks([])
        ax[i, j].set_yticks([])
        if i == 0:
            ax[i, j].set_title(title + (" p(cell)" if j > 1 else ""), fontsize=10)
bars = right.subplots()
keys = ["dice", "boundary_f1", "edge_sharpness"]
xs = np.arange(len(keys))
for k, name in enumerate(names):
    values = [results[name][key] for key in keys]
    b = bars.bar(xs + (k - 1) * 0.27, values, 0.27,
                 label=f"{name} ({results[name]['parameters']:,} params)")
    bars.bar_label(b, fmt="%.2f", fontsize=7)
bars.set_xticks(xs, ["Dice", "boundary F1", "edge sharpness"])
bars.set_ylabel("score on 16 held-out images (1 = perfect)")
bars.set_ylim(0, 1.1)
bars.legend(fontsize=8, loc="upper right")
bars.set_title(f"same steps ({settings['steps']}), batches and seed")
show(fig, "With the skips the edges come back: better Dice, boundary F1 and edge sharpness "
          "than without, even against a wider plain model with more parameters.")

# %% [markdown]
# ## What this chapter showed, as asserts

# %%
on, off, wide = (results[n] for n in names)
assert stacked.shape == (1, 384, 128, 128) and 256 + 128 == 384
assert (rungs[0].name, rungs[0].channels) == ("skip.1", "256 + 128 -> 384")  # level 1
assert wide["parameters"] > on["parameters"] > off["parameters"]
for key in ("dice", "boundary_f1", "edge_sharpness"):
    assert on[key] > off[key] and on[key] > wide[key], (key, on, off, wide)
print("chapter 4: all asserts hold")
