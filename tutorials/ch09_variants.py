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
# # 9. The U-Net family: one skeleton, one targeted change each
#
# Contract, bottleneck, expand, with rungs between: that skeleton turned out to be so good that
# a whole family grew from it, each member adapting the template to a new problem by changing
# one part and keeping the rest. In tinyunet that is literal. [`UNet`](../tinyunet/models/unet.py#UNet)
# builds itself from a handful of factory methods, [`make_block`](../tinyunet/models/unet.py#UNet.make_block),
# [`make_pool`](../tinyunet/models/unet.py#UNet.make_pool), [`make_up`](../tinyunet/models/unet.py#UNet.make_up),
# [`make_skip`](../tinyunet/models/unet.py#UNet.make_skip) and [`build_up_path`](../tinyunet/models/unet.py#UNet.build_up_path),
# and each variant is a short file that overrides only the ones its one change touches:
#
# * **Attention U-Net** puts a gate on each rung ([`attention_unet.py`](../tinyunet/models/attention_unet.py):
#   [`AttentionUNet.make_skip`](../tinyunet/models/attention_unet.py#AttentionUNet.make_skip));
# * **Residual U-Net** makes every block a residual unit ([`residual_unet.py`](../tinyunet/models/residual_unet.py):
#   [`ResidualUNet.make_block`](../tinyunet/models/residual_unet.py#ResidualUNet.make_block));
# * **U-Net++** fills the space between encoder and decoder with a grid of nested skips
#   ([`unetpp.py`](../tinyunet/models/unetpp.py): [`UNetPlusPlus.build_up_path`](../tinyunet/models/unetpp.py#UNetPlusPlus.build_up_path));
# * **3D U-Net** changes the dimension, every 3x3 a 3x3x3 ([`unet3d.py`](../tinyunet/models/unet3d.py):
#   [`UNet3D.make_block`](../tinyunet/models/unet3d.py#UNet3D.make_block) and the other factories).
#
# Each class says what it changes (`changes`) and which stages hold the change
# (`changed_stages`), and [`summary`](../tinyunet/models/summary.py#summary) marks those
# stages `*`. This chapter reads the family off the code, then trains three of them on
# synthetic cells to see what their one change buys.

# %%
import copy
import textwrap
import time

import numpy as np
from bookkit import fast_or_full, interact, show
from scipy import ndimage

import tinyunet as tu
import tinyunet.functional as F
from tinyunet import metrics, optim
from tinyunet.data import SyntheticCellVolumes
from tinyunet.lab.common import batches, cells, seed_everything
from tinyunet.models import (
    AttentionUNet,
    ResidualUNet,
    UNet,
    UNet3D,
    UNetPlusPlus,
    size_plan,
    summary,
    trace,
)
from tinyunet.models.residual_unet import ResidualUnit
from tinyunet.models.summary import changed
from tinyunet.models.unetpp import deep_supervision_loss

# %% [markdown]
# ## What each variant overrides, and what `summary` marks
#
# The same small configuration for each (depth 3, 4 base channels; the 3-D one with 'same'
# padding on an 8 x 8 x 8 volume), traced once. The overridden methods are read from each
# class itself, the marked stages from its `changed_stages` and the trace.

# %%
DEPTH = 3
PARTS = ("make_block", "make_pool", "make_up", "up_channels", "make_skip", "build_up_path",
         "make_head", "forward")
family = {
    "UNet": (UNet(base_channels=4, depth=DEPTH), (1, 1, 16, 16), {}),
    "AttentionUNet": (AttentionUNet(base_channels=4, depth=DEPTH), (1, 1, 16, 16), {}),
    "ResidualUNet": (ResidualUNet(base_channels=4, depth=DEPTH), (1, 1, 16, 16), {}),
    "UNetPlusPlus": (UNetPlusPlus(base_channels=4, depth=DEPTH, deep_supervision=True),
                     (1, 1, 16, 16), {"all_heads": True}),
    # UNet3D's base counts the channels before its first doubling: 2 gives the same 4, 8, 16, 32
    "UNet3D": (UNet3D(base_channels=2, depth=DEPTH, padding="same", norm=None), (1, 1, 8, 8, 8),
               {}),
}
stages, marked, overrides, parameters = {}, {}, {}, {}
for name, (model, shape, kwargs) in family.items():
    rows = trace(model, shape, **kwargs)
    stages[name] = [r.name for r in rows]
    marked[name] = [r.name for r in rows if changed(model, r.name)]
    parameters[name] = {"shared": sum(r.params for r in rows if r.name not in marked[name]),
                        "changed": sum(r.params for r in rows if r.name in marked[name])}
    assert sum(parameters[name].values()) == sum(p.numel() for p in model.parameters())
    overrides[name] = [p for p in PARTS if p in vars(type(model))] if name != "UNet" else []
    print(f"{name:<14} overrides {', '.join(overrides[name]) or '(nothing: the skeleton)'}")
    print(f"{'':<14} changes   {model.changes or '-'}")
    print(f"{'':<14} marked    {len(marked[name])} of {len(rows)} stages: "
          f"{', '.join(marked[name][:6])}{' ...' if len(marked[name]) > 6 else ''}")
    print(f"{'':<14} params    {parameters[name]['shared']:,} in the U-Net's own stages, "
          f"{parameters[name]['changed']:,} in the changed ones")

# %% [markdown]
# One of them in full: the Attention U-Net's summary, its three gated rungs marked. (The same
# table from the command line: `tinyunet summary --model attention`.)

# %%
table = summary(AttentionUNet(base_channels=4, depth=DEPTH), (1, 1, 32, 32))

# %% [markdown]
# ## The slider: which part of the U each variant changes
#
# Left, the U drawn from the model's own trace: every box a block (encoder, bottleneck,
# decoder, or a U-Net++ node x^{i,j}), every arrow a pool, an up-sampler or a rung; orange
# where `changed_stages` says the variant differs from the plain U-Net. The boxes sit on a grid
# of level (down) and column (across): the U-Net's decoder level k is column depth - k, the
# outer edge of the triangle that U-Net++ fills in. Right, what the change costs in parameters
# at the same widths.

# %%
CHANGED, SHARED = "tab:orange", "0.72"


def positions(name):
    """Stage name -> (column, level) of the box that computes it."""
    where = {}
    for s in stages[name]:
        kind, _, index = s.partition(".")
        if kind == "encoder":
            where[s] = (0, int(index))
        elif s == "bottleneck":
            where[s] = (0, DEPTH)
        elif kind == "decoder":
            where[s] = (DEPTH - int(index), int(index))
        elif s.startswith("x_"):
            i, j = map(int, s[2:].split("_"))
            where[s] = (j, i)
    return where


def arrows(name):
    """(stage, from, to) for every pool, up-sampler and rung of the trace."""
    out = []
    for s in stages[name]:
        kind, _, index = s.partition(".")
        if kind == "pool":
            k = int(index)
            out.append((s, (0, k), (0, k + 1)))
        elif kind == "ups":
            k = int(index)
            out.append((s, (DEPTH - k - 1, k + 1), (DEPTH - k, k)))
        elif kind == "skip":
            k = int(index)
            out.append((s, (0, k), (DEPTH - k, k)))
        elif s.startswith(("up_", "skip_")):
            i, j = map(int, s.split("_")[1:])
            if s.startswith("up_"):
                out.append((s, (j - 1, i + 1), (j, i)))
            else:
                out += [(s, (m, i), (j, i)) for m in range(j)]
    return out


def draw_u(ax, variant):
    model = family[variant][0]
    for stage, (c0, l0), (c1, l1) in arrows(variant):
        on, across = changed(model, stage), l0 == l1
        gap = 0.3 if across else 0.0  # a rung leaves its box's side, not its centre
        ax.annotate("", xy=(c1 - gap, -l1), xytext=(c0 + gap, -l0),
                    arrowprops=dict(arrowstyle="-|>", lw=2 if on else 1,
                                    color=CHANGED if on else SHARED,
                                    shrinkA=0 if across else 9, shrinkB=0 if across else 9,
                                    # a long rung arcs over the boxes it passes
                                    connectionstyle=f"arc3,rad={-0.3 if c1 - c0 > 1 else 0}"))
    for stage, (c, level) in positions(variant).items():
        on = changed(model, stage)
        label = stage.replace("encoder.", "enc ").replace("decoder.", "dec ")
        ax.text(c, -level, label.replace("bottleneck", "bottom"), ha="center", va="center",
                fontsize=7, bbox=dict(boxstyle="round,pad=0.3", fc=CHANGED if on else "white",
                                      ec=CHANGED if on else "0.45"))
    for h in (s for s in stages[variant] if s.startswith("head")):
        j, on = int(h.split("_")[1]) if "_" in h else DEPTH, changed(model, h)
        ax.annotate(h, xy=(j, 0), xytext=(j, 0.75), ha="center", fontsize=7,
                    color=CHANGED if on else "0.3",
                    arrowprops=dict(arrowstyle="<|-", color=CHANGED if on else SHARED,
                                    shrinkB=9))
    ax.set_xlim(-0.6, DEPTH + 0.6)
    ax.set_ylim(-DEPTH - 0.6, 1.2)
    ax.set_yticks([-k for k in range(DEPTH + 1)], [f"level {k}" for k in range(DEPTH + 1)],
                  fontsize=7)
    ax.set_xticks(range(DEPTH + 1), [f"col {j}" for j in range(DEPTH + 1)], fontsize=7)
    ax.set_xlabel("down the left edge, up the right", fontsize=8)
    text = model.changes or "nothing: the skeleton itself"
    ax.set_title(f"{variant}: " + "\n".join(textwrap.wrap(text, 52)[:3]), fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw_parameters(ax, variant):
    plain_total = parameters["UNet"]["shared"]
    mine = parameters[variant]
    ax.barh([0], [plain_total], color=SHARED, label="the U-Net's own stages")
    ax.text(plain_total, 0, f" {plain_total:,}", va="center", fontsize=8)
    if variant != "UNet":
        ax.barh([1], [mine["shared"]], color=SHARED)
        ax.barh([1], [mine["changed"]], left=[mine["shared"]], color=CHANGED,
                label="changed stages")
        ax.text(mine["shared"] + mine["changed"], 1,
                f" {mine['shared'] + mine['changed']:,}\n ({mine['changed']:,} changed)",
                va="center", fontsize=8)
    ax.set_yticks([0, 1], ["UNet", variant if variant != "UNet" else ""], fontsize=8)
    ax.set_xlim(0, 1.5 * max(p["shared"] + p["changed"] for p in parameters.values()))
    ax.set_xlabel("parameters (same widths: 4 base channels, depth 3)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("what the change costs", fontsize=8)


def draw_variant(axes, variant):
    draw_u(axes[0], variant)
    draw_parameters(axes[1], variant)


interact(draw_variant, panels=2, panel_size=(3.9, 3.1),
         title="orange: the stages each variant changes (marked * by summary)",
         variant=list(family))

# %% [markdown]
# ## Attention gates: a weight per pixel on each rung
#
# A plain rung hands the decoder the whole encoder map `s_k`, background and all. The gate
# ([`AttentionGate`](../tinyunet/models/attention_unet.py#AttentionGate), Oktay et al. 2018)
# first weighs each pixel of it by what the coarser context `g` (the map that just came up from
# below) makes of it:
#
# `alpha = sigmoid(psi^T ReLU(W_x^T x + W_g^T g + b_g) + b_psi)`, then `cat([d, alpha * x])`
#
# ([`AttentionSkip.forward`](../tinyunet/models/attention_unet.py#AttentionSkip.forward)).
# alpha is one number per pixel in (0, 1); every gate starts near 0.5. We train a small
# Attention U-Net on synthetic cells and ask `model(x, return_attention=True)` for the maps.

# %%
SIZE, STEPS = 64, fast_or_full(60, 400)
images, masks = cells(fast_or_full(64, 256), SIZE, seed=0)
val_images, val_masks = cells(16, SIZE, seed=10_000)


def fit(model, steps, loss_fn=F.cross_entropy, **forward_kwargs):
    """Adam on batches of 8 cells; the same batches for every model."""
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    data = batches(images, masks, batch_size=8, seed=0)
    for _ in range(steps):
        x, y = next(data)
        optimizer.zero_grad()
        loss = loss_fn(model(tu.Tensor(x), **forward_kwargs), y)
        loss.backward()
        optimizer.step()
    return model.eval()


seed_everything(0)
attention = AttentionUNet(1, 2, base_channels=8, depth=3, norm="batch")


def top_gate(model):
    """alpha of the top rung (level 0, full resolution) on the 16 held-out images."""
    model.eval()
    with tu.no_grad():
        logits, alphas = model(tu.Tensor(val_images), return_attention=True)
    return logits.data.argmax(axis=1), alphas


_, alphas_at_start = top_gate(attention)
pred, alphas = top_gate(fit(attention.train(), STEPS))
attention_dice = metrics.dice(pred, val_masks)
alpha0 = alphas[0].data[:, 0]
print(f"Attention U-Net after {STEPS} steps: validation Dice {attention_dice:.3f}")
for k, a in enumerate(alphas):
    print(f"  skip.{k}: alpha {tuple(a.shape)}, from {a.data.min():.2f} to {a.data.max():.2f}")

# %% [markdown]
# Where does the top gate open? Sort every pixel by its signed distance to the nearest cell
# edge (negative inside a cell, positive outside; `scipy.ndimage.distance_transform_edt`) and
# average alpha at each distance, before training and after.

# %%
cell = val_masks.astype(bool)
signed = np.stack([np.where(c, -ndimage.distance_transform_edt(c),
                            ndimage.distance_transform_edt(~c)) for c in cell])
DISTANCES = [d for d in range(-8, 9) if d != 0]  # |d| = 1: the pixels on either side of the edge


def profile(alpha):
    return np.array([alpha[np.clip(np.round(signed), -8, 8) == d].mean() for d in DISTANCES])


alpha_profile = profile(alpha0)
start_profile = profile(alphas_at_start[0].data[:, 0])
at_edge = max(alpha_profile[DISTANCES.index(-1)], alpha_profile[DISTANCES.index(1)])
deep_inside = alpha_profile[[DISTANCES.index(d) for d in range(-8, -1)]].min()
print("mean alpha of the top gate by distance to the cell edge (px):")
print("  " + "  ".join(f"{d:+d}: {a:.3f}" for d, a in zip(DISTANCES, alpha_profile)))
print(f"at the edge {at_edge:.3f}, lowest inside the cells {deep_inside:.3f}; before training "
      f"alpha spanned {start_profile.min():.3f} to {start_profile.max():.3f}")

# %% [markdown]
# What the gate learned is modest and readable: it damps the top skip a few pixels inside the
# cells and passes more of it at their edges, which is the detail that rung exists to carry
# (chapter 4); the inside of a cell the decoder already knows from below. (Outside, the
# background drifts with training: high early, lower later.) Its range stays narrow, nothing
# like the black-and-white maps of the paper's figures, which come from long training on
# organs that fill one part of a large scan. The faint checkerboard in the maps is chapter 6's:
# the gating signal `g` comes out of a stride-2 transposed conv.
#
# **Gates open, U-Net back.** Force every gate to alpha = 1 (psi's weights 0, its bias 50:
# sigmoid(50) is 1.0 in float32) and the gated rung passes `s` untouched: the trained Attention
# U-Net computes exactly what a plain `UNet` with its other weights computes.

# %%
opened = copy.deepcopy(attention)
for skip in opened.skip:
    skip.gate.psi.weight.data[...] = 0.0
    skip.gate.psi.bias.data[...] = 50.0
plain = UNet(1, 2, base_channels=8, depth=3, norm="batch").eval()
plain.load_state_dict({k: v for k, v in attention.state_dict().items() if ".gate." not in k})
with tu.no_grad():
    opened_out, opened_alphas = opened(tu.Tensor(val_images[:4]), return_attention=True)
    plain_out = plain(tu.Tensor(val_images[:4]))
open_gap = float(np.abs(opened_out.data - plain_out.data).max())
print(f"gates forced open: every alpha == 1: {all((a.data == 1).all() for a in opened_alphas)};"
      f" largest difference from the plain U-Net: {open_gap}")

# %% [markdown]
# ## Residual units: a correction to what the block is given
#
# [`ResidualUnit.forward`](../tinyunet/models/residual_unet.py#ResidualUnit.forward) computes
# `y = F(x) + x`: F is the U-Net's two-conv block, and a 1x1 projection replaces the identity
# where the channels change. The gradient has a path around every pair of convs,
# `dL/dx = dL/dy (dF/dx + 1)`. With F switched off (its convs zero) the unit *is* the
# identity, which is where a deep residual stack starts from:

# %%
tu.manual_seed(0)
unit = ResidualUnit(4, 4)
for conv in (unit.conv1, unit.conv2):
    conv.weight.data[...] = 0.0
    conv.bias.data[...] = 0.0
x = tu.randn(2, 4, 8, 8)
identity_gap = float(np.abs(unit(x).data - x.data).max())
print(f"F = 0: max |y - x| = {identity_gap};  widening 4 -> 8 channels uses "
      f"{type(ResidualUnit(4, 8).shortcut).__name__} for the shortcut")

# %% [markdown]
# ## U-Net++: nested skips, and a network you can prune
#
# U-Net++ (Zhou et al. 2018) replaces the one jump of each rung by a grid of nodes,
# `x^{i,j} = H([x^{i,0}, ..., x^{i,j-1}, U(x^{i+1,j-1})])` ([`UNetPlusPlus.forward`](../tinyunet/models/unetpp.py#UNetPlusPlus.forward)).
# With deep supervision every top node x^{0,j} gets a head and is trained to segment
# ([`deep_supervision_loss`](../tinyunet/models/unetpp.py#deep_supervision_loss)), so each of
# the first k columns is a complete U-Net of depth k: at inference `model(x, prune=k)` computes
# only those columns. Fewer columns, less time; how much Dice does it cost?

# %%
seed_everything(0)
nested = fit(UNetPlusPlus(1, 2, base_channels=8, depth=3, norm="batch", deep_supervision=True),
             STEPS, deep_supervision_loss(F.cross_entropy), all_heads=True)
reference = UNet(1, 2, base_channels=8, depth=3, norm="batch").eval()  # for its time only
x_val = tu.Tensor(val_images)


def ms_per_forward(runs: dict, rounds: int) -> dict:
    """Milliseconds of each ``runs[name]()``: after a warm-up, ``rounds`` rounds that each run
    every one once (so a busy moment of the machine hits them alike), and the fastest of each
    (the least disturbed run, as ``timeit`` reports)."""
    times = {name: [] for name in runs}
    with tu.no_grad():
        for _ in range(rounds + 1):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * min(t[1:]) for name, t in times.items()}


runs = {k: (lambda k=k: nested(x_val, prune=k)) for k in range(1, DEPTH + 1)}
ms = ms_per_forward({**runs, "unet": lambda: reference(x_val)}, rounds=fast_or_full(3, 15))
unet_ms = ms["unet"]
pruning = {}
for k in range(1, DEPTH + 1):
    with tu.no_grad():
        pred = nested(x_val, prune=k).data.argmax(axis=1)
    rows = trace(nested, (1, 1, SIZE, SIZE), prune=k)
    pruning[k] = {"dice": metrics.dice(pred, val_masks),
                  "nodes": sum(r.name.startswith("x_") for r in rows),
                  "parameters": sum(r.params for r in rows), "ms": ms[k]}
    print("prune={}: {} node(s) x^(i,j), {:>7,} parameters used, {:5.1f} ms per forward of 16, "
          "Dice {:.3f}".format(k, *(pruning[k][key] for key in ("nodes", "parameters", "ms",
                                                                 "dice"))))
print(f"the plain U-Net of the same widths: {unet_ms:.1f} ms per forward")

# %% [markdown]
# On these cells the cheap columns lose little: a cell is recognised from a small
# neighbourhood, so one or two levels of context nearly suffice. That is the trade-off the
# pruning exposes, not a law: measure it on your own data before you ship a pruned network.
#
# ## 3D U-Net: the same U, one dimension more
#
# [`UNet3D`](../tinyunet/models/unet3d.py#UNet3D) (Çiçek et al. 2016) swaps 3x3 convs for
# 3x3x3, 2x2 pools and up-convolutions for 2x2x2, and doubles the channels before each pool.
# The paper's 'valid' network turns a 132 x 132 x 116 tile into a 44 x 44 x 28 prediction;
# [`size_plan`](../tinyunet/models/size_plan.py#size_plan) traces every level:

# %%
plan = size_plan((132, 132, 116), depth=3, dims=3)
print(plan)

# %% [markdown]
# A small 3-D U-Net ('same' padding, 4 base channels, depth 2) learns to segment synthetic cell
# volumes ([`SyntheticCellVolumes`](../tinyunet/data/volumes.py#SyntheticCellVolumes):
# ellipsoids with darker rims, blurred and noisy). Dice is computed over every voxel.

# %%
SIDE, STEPS_3D = fast_or_full(24, 32), fast_or_full(25, 80)
train_volumes = SyntheticCellVolumes(2 * STEPS_3D, size=SIDE, seed=0)
held_out = SyntheticCellVolumes(4, size=SIDE, seed=1)
val_volumes, val_volume_masks = (np.stack(a) for a in zip(*(held_out[i] for i in range(4))))
tu.manual_seed(0)
net3d = UNet3D(base_channels=4, depth=2, padding="same", norm="batch")
optimizer = optim.Adam(net3d.parameters(), lr=0.01)
for step in range(STEPS_3D):
    x, y = (np.stack(a) for a in zip(train_volumes[2 * step], train_volumes[2 * step + 1]))
    optimizer.zero_grad()
    loss = F.cross_entropy(net3d(tu.Tensor(x)), y)
    loss.backward()
    optimizer.step()
net3d.eval()
with tu.no_grad():
    p_volume = F.softmax(net3d(tu.Tensor(val_volumes)), dim=1).data[:, 1]
N, W = val_volume_masks.shape[0], val_volume_masks.shape[-1]  # each volume as one image
dice_3d = metrics.dice((p_volume > 0.5).astype(np.int64).reshape(N, -1, W),
                       val_volume_masks.reshape(N, -1, W))
print(f"3-D U-Net, {STEPS_3D} steps on {SIDE}^3 volumes: {p_volume.shape} probabilities, "
      f"validation Dice {dice_3d:.3f}")

# %% [markdown]
# ## The family at a glance

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig = plt.figure(figsize=(15, 9.4), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.05])
shown = [0, 1]
ax = top.subplots(1, 5, width_ratios=[1, 1, 1, 1, 1.25])
lo, hi = np.percentile(alpha0[shown], [1, 99])
for col, i in enumerate(shown):
    ax[2 * col].imshow(val_images[i, 0], cmap="gray")
    ax[2 * col].set_title(f"held-out image {i}", fontsize=10)
    im = ax[2 * col + 1].imshow(alpha0[i], cmap="magma", vmin=lo, vmax=hi)
    ax[2 * col + 1].contour(val_masks[i], levels=[0.5], colors="cyan", linewidths=0.7)
    ax[2 * col + 1].set_title("top-gate alpha, cyan: cell outline", fontsize=10)
for a in ax[:4]:
    a.set_xlabel("column (pixel)")
    a.set_ylabel("row (pixel)")
top.colorbar(im, ax=ax[3], label="alpha", shrink=0.85)
ax[4].plot(DISTANCES, start_profile, "o-", ms=3, color="0.6", label="before training")
ax[4].plot(DISTANCES, alpha_profile, "o-", ms=3, color="tab:purple",
           label=f"after {STEPS} steps")
ax[4].axvline(0, color="tab:cyan", lw=1)
ax[4].text(0.3, 0.02, "cell edge", color="tab:cyan", fontsize=8, transform=ax[4].get_xaxis_transform())
ax[4].set_xlabel("distance to cell edge (px), < 0 inside")
ax[4].set_ylabel("mean top-gate alpha, 16 images")
ax[4].legend(fontsize=8)
ax[4].set_title("where the top gate opens", fontsize=10)
top.suptitle(f"Attention U-Net after {STEPS} steps (Dice {attention_dice:.2f}): the gate on the "
             "top rung", fontsize=11)

left, right = bottom.subfigures(1, 2, width_ratios=[1, 1.25])
tradeoff = left.subplots()
ks = list(pruning)
tradeoff.plot([pruning[k]["ms"] for k in ks], [pruning[k]["dice"] for k in ks], "o-",
              color="tab:orange", label="U-Net++ pruned to k columns (deep supervision)")
for k in ks:
    tradeoff.annotate(f"k={k}", (pruning[k]["ms"], pruning[k]["dice"]), textcoords="offset points",
                      xytext=(0, 8), ha="center", fontsize=9)
tradeoff.text(0.03, 0.04, "\n".join(f"k={k}: {pruning[k]['nodes']} node{'s' * (k > 1)} x^(i,j), "
                                    f"{pruning[k]['parameters']:,} parameters" for k in ks),
              transform=tradeoff.transAxes, fontsize=8, va="bottom")
tradeoff.axvline(unet_ms, color="0.5", ls="--", label="plain U-Net, same widths (time only)")
dices = [pruning[k]["dice"] for k in ks]
tradeoff.set_ylim(min(dices) - 0.06, min(1.0, max(dices) + 0.04))
tradeoff.set_xlim(0, max(max(pruning[k]["ms"] for k in ks), unet_ms) * 1.15)
tradeoff.set_xlabel("time per forward of 16 images 64 x 64 (ms, this machine)")
tradeoff.set_ylabel("validation Dice (16 held-out images)")
tradeoff.legend(fontsize=8, loc="upper left")
tradeoff.set_title(f"U-Net++ after {STEPS} steps: prune at inference", fontsize=10)

z = SIDE // 2
slices = right.subplots(1, 2)
slices[0].imshow(val_volumes[0, 0, z], cmap="gray")
slices[0].set_title(f"volume 0, slice z = {z} of {SIDE}", fontsize=10)
slices[1].imshow(p_volume[0, z], cmap="gray", vmin=0, vmax=1)
slices[1].contour(val_volume_masks[0, z], levels=[0.5], colors="tab:red", linewidths=0.9)
slices[1].set_title("3-D U-Net p(cell) (red: true outline)", fontsize=10)
for a in slices:
    a.set_xlabel("x (voxel)")
    a.set_ylabel("y (voxel)")
right.suptitle(f"3-D U-Net, {STEPS_3D} steps on {SIDE}^3 volumes: Dice {dice_3d:.2f} over all "
               "voxels", fontsize=11)
cheap = min(k for k in ks if pruning[k]["dice"] >= pruning[DEPTH]["dice"] - 0.02)
show(fig, f"One skeleton, one change each: the top gate opens wider at the cell edges (alpha "
          f"{at_edge:.2f}) than a few pixels inside ({deep_inside:.2f}); U-Net++ "
          f"pruned to {cheap} of {DEPTH} columns keeps its Dice within 0.02 at "
          f"{pruning[cheap]['ms'] / pruning[DEPTH]['ms']:.0%} of the time; the same U in 3-D "
          f"segments volumes (Dice {dice_3d:.2f}).")

# %% [markdown]
# ## What this chapter showed, as asserts

# %%
# each variant overrides its one part and summary marks exactly its stages
assert overrides["UNet"] == [] and marked["UNet"] == []
assert overrides["AttentionUNet"] == ["make_skip", "forward"]
assert marked["AttentionUNet"] == ["skip.2", "skip.1", "skip.0"]
assert overrides["ResidualUNet"] == ["make_block"]
assert marked["ResidualUNet"] == ["encoder.0", "encoder.1", "encoder.2", "bottleneck",
                                  "decoder.2", "decoder.1", "decoder.0"]
assert overrides["UNetPlusPlus"] == ["build_up_path", "forward"]
assert {s.split("_")[0] for s in marked["UNetPlusPlus"]} == {"up", "skip", "x", "head"}
assert sum(s.startswith("x_") for s in marked["UNetPlusPlus"]) == DEPTH * (DEPTH + 1) // 2
assert not any(s.startswith(("encoder", "pool", "bottleneck")) for s in marked["UNetPlusPlus"])
assert set(overrides["UNet3D"]) >= {"make_block", "make_pool", "make_up", "make_head"}
assert marked["UNet3D"] == stages["UNet3D"]  # the dimension: every stage
assert "* skip.0" in table and "changed from the plain U-Net (AttentionUNet)" in table
# the gates: opened, the plain U-Net exactly; trained, more open at the edges than inside
assert open_gap == 0.0 and all((a.data == 1).all() for a in opened_alphas)
assert at_edge > deep_inside + 0.02, alpha_profile
assert np.ptp(alpha_profile) > 2 * np.ptp(start_profile)  # training shaped it
assert attention_dice > 0.85
# a residual unit with F = 0 is the identity
assert identity_gap == 0.0
# U-Net++: k columns are k (k + 1) / 2 nodes; each extra column costs no Dice beyond noise
assert [pruning[k]["nodes"] for k in ks] == [1, 3, 6]
assert pruning[1]["parameters"] < pruning[2]["parameters"] < pruning[3]["parameters"]
assert all(pruning[k]["dice"] > 0.85 for k in ks), pruning
assert all(pruning[k + 1]["dice"] >= pruning[k]["dice"] - 0.03 for k in ks[:-1]), pruning
# the 3-D U-Net: the paper's tile, and a small one that learns
assert plan.output == (44, 44, 28) and size_plan(572, depth=4).output == 388
assert p_volume.shape == (4, SIDE, SIDE, SIDE) and dice_3d > 0.7
print("chapter 9: all asserts hold")
