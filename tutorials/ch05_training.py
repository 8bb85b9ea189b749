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

# %% [markdown]
# ## Appendix: touching nuclei, and two ways to keep them apart
#
# Dice scores pixels. Count *objects* instead and a plain binary U-Net has a blind spot: where
# two nuclei touch, their pixels are all "nucleus", the mask is one blob, and labelling it
# finds one object where there are two. Dice barely notices (the pixels are right); the
# object count and the Data Science Bowl's average precision do
# ([`average_precision`](../tinyunet/instance_metrics.py#average_precision): TP / (TP + FP +
# FN), a predicted object matching a true one when their IoU exceeds 0.5). Two answers:
#
# * **the U-Net paper's border weight map.** The target draws a background line where nuclei
#   touch ([`separated`](../tinyunet/data/targets.py#separated)), and the loss weighs every
#   pixel by `w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))`, d1 and d2 the distances
#   to the nearest and second-nearest nucleus ([`unet_weight_map`](../tinyunet/data/weights.py#unet_weight_map),
#   w0 = 10, sigma = 5 px): the few pixels of the line count up to ten times more;
# * **a third class.** Background, interior and boundary
#   ([`three_class`](../tinyunet/data/targets.py#three_class)): touching nuclei are parted by
#   their two rims, so interiors never touch and each one seeds a nucleus
#   ([`from_three_class`](../tinyunet/instances.py#from_three_class)).
#
# Three small U-Nets (depth 2, 8 base channels), the same in all but their target and loss,
# trained by the library's own run (what `tinyunet train --data nuclei`, `--loss weighted_ce`
# and `--target three_class` do: [`make_trainer`](../tinyunet/train/config.py#make_trainer))
# on synthetic touching nuclei ([`SyntheticNuclei`](../tinyunet/data/nuclei.py#SyntheticNuclei)),
# then scored object by object on 8 held-out images.

# %%
import tempfile  # noqa: E402

from tinyunet.instance_metrics import count, instance_scores  # noqa: E402
from tinyunet.instances import from_prediction  # noqa: E402
from tinyunet.train import TrainConfig, make_trainer  # noqa: E402

NUCLEI = dict(data="nuclei", train_images=24, val_images=8, image_size=64, crop=32,
              base_channels=8, depth=2, norm="batch", batch_size=8, lr=5e-3, epochs=1,
              steps_per_epoch=fast_or_full(100, 400), seed=0)
WAYS = {"plain": {}, "weight map": dict(loss="weighted_ce"),
        "three-class": dict(target="three_class", num_classes=3)}
trained = {}
with tempfile.TemporaryDirectory() as runs:
    for way, setting in WAYS.items():
        trained[way] = make_trainer(TrainConfig(**NUCLEI, **setting), f"{runs}/{way}",
                                    progress=False)
        trained[way].fit()

held_out = trained["weight map"].val_loader.dataset  # (image, target, labels, weight map)
nuclei_images = np.stack([held_out[i][0] for i in range(len(held_out))])
true_objects = [held_out[i][2] for i in range(len(held_out))]
predicted = {}
for way, trainer in trained.items():
    trainer.model.eval()
    with tu.no_grad():
        predicted[way] = trainer.model(tu.Tensor(nuclei_images)).data.argmax(axis=1)

# how each prediction becomes objects: connected components of the foreground, the classical
# repair (split the foreground at its necks), or the interiors of the three-class mask
counted = {"plain": ("plain", "components"), "plain + split at necks": ("plain", "split"),
           "weight map": ("weight map", "components"),
           "weight map + split at necks": ("weight map", "split"),
           "three-class": ("three-class", "three_class")}
found, nuclei_scores = {}, {}
for name, (way, method) in counted.items():
    found[name] = [from_prediction(p, method) for p in predicted[way]]
    nuclei_scores[name] = instance_scores(true_objects, found[name])
plain_dice = metrics.dice((predicted["plain"] > 0).astype(np.int64),
                          np.stack([(t > 0).astype(np.int64) for t in true_objects]))
print(f"plain U-Net: foreground Dice {plain_dice:.3f} on the held-out nuclei")
for name, s in nuclei_scores.items():
    print(f"{name:<28} {s['objects']:>3} objects found of {s['true_objects']}, "
          f"AP@0.5 {s['ap50']:.3f}, AP@0.5:0.95 {s['ap']:.3f}")

# %% [markdown]
# The plain network's pixels are right and its objects are not: touching nuclei come out as
# one. The classical repair, splitting the blobs where they narrow
# ([`split_touching`](../tinyunet/instances.py#split_touching)), recovers many from their shape
# alone. The trained answers know where one nucleus ends because the network learned it: the
# weight-map network draws most of the parting lines by itself (more of them the longer it
# trains), and with the repair on top, which is what `tinyunet predict --instances` does for
# it by default, it finds nearly every nucleus; the three-class network draws every rim.

# %%
from matplotlib.colors import ListedColormap  # noqa: E402

from tinyunet.instances import outlines  # noqa: E402

OBJECT_COLOURS = plt.get_cmap("tab10").colors


def draw_objects(ax, image, labels, title):
    """The image in grey, each object's outline in its own colour."""
    rgb = np.repeat((image - image.min()) / (np.ptp(image) + 1e-12), 3).reshape(*image.shape, 3)
    edge = outlines(labels)
    rgb[edge] = np.array(OBJECT_COLOURS)[labels[edge] % len(OBJECT_COLOURS)]
    ax.imshow(rgb)
    ax.set_title(title, fontsize=9)


merged = [count(t) - count(f) for t, f in zip(true_objects, found["plain"])]
shown_i = int(np.argmax(merged))  # the held-out image in which the plain network merges most
image_i = nuclei_images[shown_i, 0]
fig = plt.figure(figsize=(15, 7.2), layout="constrained")
panels, bars_fig = fig.subfigures(1, 2, width_ratios=[3.1, 1.2])
ax = panels.subplots(2, 4)
ax[0, 0].imshow(image_i, cmap="gray")
ax[0, 0].set_title(f"held-out image {shown_i} (input)", fontsize=9)
ax[0, 1].imshow(held_out[shown_i][2] > 0, cmap="gray")
ax[0, 1].set_title("plain: the binary mask", fontsize=9)
im = ax[0, 2].imshow(held_out[shown_i][3], cmap="viridis")
panels.colorbar(im, ax=ax[0, 2], label="pixel weight w(x)", shrink=0.8)
ax[0, 2].set_title("weight map: w(x)", fontsize=9)
ax[0, 3].imshow(trained["three-class"].val_loader.dataset[shown_i][1],
                cmap=ListedColormap(["black", "0.65", "tab:orange"]), vmin=0, vmax=2)
ax[0, 3].set_title("three-class: 3 classes", fontsize=9)
ax[0, 3].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in ("0.65", "tab:orange")],
                labels=["interior", "boundary"], fontsize=7, loc="lower right")
draw_objects(ax[1, 0], image_i, true_objects[shown_i],
             f"the true nuclei: {count(true_objects[shown_i])}")
for a, name in zip(ax[1, 1:], ("plain", "weight map", "three-class")):
    labels_i = found[name][shown_i]
    draw_objects(a, image_i, labels_i, f"{name}: {count(labels_i)} objects found")
for a in ax.ravel():
    a.set_xlabel("column (pixel)", fontsize=8)
    a.set_ylabel("row (pixel)", fontsize=8)
    a.tick_params(labelsize=7)
panels.suptitle("top: what each network is trained on; bottom: the objects it finds "
                "(one colour per object)", fontsize=11)
names = list(nuclei_scores)
colours = ["0.55", "0.8", "tab:blue", "lightsteelblue", "tab:orange"]
n_bars = len(names)
count_ax, ap_ax = bars_fig.subplots(2, 1)
b = count_ax.bar(range(n_bars), [nuclei_scores[n]["objects"] for n in names], color=colours)
count_ax.bar_label(b, fontsize=8)
count_ax.axhline(nuclei_scores["plain"]["true_objects"], color="k", ls="--", lw=1,
                 label="true nuclei")
count_ax.set_ylabel("objects found (8 images)")
count_ax.set_ylim(0, 1.3 * max(nuclei_scores[n]["objects"] for n in names))
count_ax.legend(fontsize=8, loc="upper left")
b = ap_ax.bar(range(n_bars), [nuclei_scores[n]["ap50"] for n in names], color=colours)
ap_ax.bar_label(b, fmt="%.2f", fontsize=8)
ap_ax.set_ylabel("AP at IoU 0.5 (1 = every nucleus)")
ap_ax.set_ylim(0, 1.15)
for a in (count_ax, ap_ax):
    a.set_xticks(range(n_bars), [n.replace(" + ", "\n+ ").replace(" at", "\nat") for n in names],
                 fontsize=7)
show(fig, f"Same pixels, different objects: the plain U-Net merges touching nuclei "
          f"({nuclei_scores['plain']['objects']} of {nuclei_scores['plain']['true_objects']} "
          f"found, AP@0.5 {nuclei_scores['plain']['ap50']:.2f}); the weight map "
          f"(AP@0.5 {nuclei_scores['weight map']['ap50']:.2f}, "
          f"{nuclei_scores['weight map + split at necks']['ap50']:.2f} with the neck split) and "
          f"the boundary class ({nuclei_scores['three-class']['ap50']:.2f}) teach it to part "
          f"them.")

# %% [markdown]
# ### The appendix's numbers, as asserts

# %%
plain_s, repair_s, weight_s, weight_repair_s, three_s = (nuclei_scores[n] for n in names)
true_n = plain_s["true_objects"]
assert plain_dice > 0.95  # the pixels are right ...
assert plain_s["objects"] < 0.6 * true_n and plain_s["ap50"] < 0.45  # ... the nuclei are not
assert weight_s["objects"] > plain_s["objects"] + 0.25 * true_n
assert weight_s["ap50"] > plain_s["ap50"] + 0.3
assert abs(three_s["objects"] - true_n) <= 0.1 * true_n and three_s["ap50"] > 0.9
assert three_s["ap50"] > repair_s["ap50"] > plain_s["ap50"]  # training beats the repair ...
assert weight_repair_s["ap50"] > repair_s["ap50"] + 0.1  # ... and helps it
print("chapter 5, touching nuclei: all asserts hold")
