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
# # 6. Upsampling four ways, and where the checkerboard really comes from
#
# The decoder must conjure pixels it does not have. It can *resize* (nearest copies each value
# into a 2x2 block, bilinear interpolates) and then convolve, or it can *learn* the upsampling
# with a transposed convolution: each input value paints a scaled copy of the kernel into the
# output, overlapping copies summed ([`conv_transpose2d`](../tinyunet/kernels/reference/conv.py#conv_transpose2d),
# the adjoint of the conv: [`ConvTranspose2d`](../tinyunet/ops/conv.py#ConvTranspose2d)).
#
# The lesson's account of the artifact: a kernel of 3 with stride 2 covers output pixels
# unevenly, 2 placements here and 1 beside it, so a checkerboard; make the kernel a multiple of
# the stride and coverage is even. The first half is right. The measurements below sharpen
# the rest: **even coverage is neither enough nor needed; what decides is the sum of the taps
# that land on each output phase.**

# %%
import numpy as np
from bookkit import fast_or_full, interact, show

import tinyunet as tu
from tinyunet import nn
from tinyunet.lab.checkerboard import DEFAULT, grow_four_ways, train_and_track
from tinyunet.lab.common import cells
from tinyunet.lab.overlap import coverage_map_2d, coverage_summary, input_gradient_map, interior
from tinyunet.lab.phase_gain import phase_gain_spread, phase_gains
from tinyunet.lab.spectrum import make_upsampler, nyquist_share, smooth_periodic

# %% [markdown]
# ## Four ways to grow a small map
#
# A smooth 12 x 12 map, doubled by nearest, bilinear, and two transposed convs whose kernels
# are constant (so the only difference between them is where their taps land).

# %%
small = smooth_periodic(1, 12, 2, np.random.default_rng(0))[0, 0]
grown = grow_four_ways(small)
for name, image in grown.items():
    print(f"{name:<24} {image.shape}")

# %% [markdown]
# ## Coverage: the lesson's 2 : 1, and 4 : 2 : 2 : 1 in two dimensions
#
# Count how many kernel placements land on each output pixel: a transposed conv of ones with
# a kernel of ones ([`coverage_summary`](../tinyunet/lab/overlap.py#coverage_summary)).

# %%
k3 = coverage_summary(3, 2)
block = interior(coverage_map_2d(3, 2), 3, 2)[:2, :2]
print("kernel 3, stride 2: 1-D period", k3["period_1d"], " 2-D block", block.ravel().tolist())
print("kernel 4, stride 2: uniform", coverage_summary(4, 2)["uniform"])
print("the gradient of a stride-2 kernel-3 *conv* has the same map:",
      sorted(np.unique(input_gradient_map(3, 2)).tolist()))

# %% [markdown]
# ## Phase sums decide
#
# Feed a transposed conv (stride 2) a constant input. Every output pixel with the same
# *phase* (its row and column modulo 2) gets the same value, the sum of the kernel taps that
# land on that phase: `g[a, b] = sum_{m, n} w[a + 2m, b + 2n]`
# ([`transposed_phase_gains`](../tinyunet/lab/phase_gain.py#transposed_phase_gains)). The
# output is flat exactly when the four phase sums are equal. With a constant kernel each
# sum is the constant times the coverage count, which is where the lesson's rule comes from.
# But the taps are *learned*, and nothing makes them constant:
#
# * kernel 3 with taps `[.5, 1, .5]` (in each direction): phase 0 gets `.5 + .5`, phase 1 gets
#   `1`: equal, so flat, despite the 4 : 2 : 2 : 1 coverage;
# * kernel 4 with random taps (what every layer starts as): even coverage, unequal sums, a
#   checkerboard.
#
# The *phase gain spread* is `|max - min| / |mean|` of the phase sums (0 = no checkerboard,
# [`phase_gain_spread`](../tinyunet/lab/phase_gain.py#phase_gain_spread)); the *Nyquist share*
# is the fraction of the output's energy at the highest frequency the grid can hold, the
# checkerboard's own, when smooth inputs go in ([`nyquist_share`](../tinyunet/lab/spectrum.py#nyquist_share)).


# %%
def transposed(kernel_size, taps):
    """A 1-channel stride-2 transposed conv that exactly doubles the size, with these taps."""
    k = kernel_size
    layer = nn.ConvTranspose2d(1, 1, k, stride=2, padding=(k - 1) // 2 if k > 2 else 0,
                               output_padding=k % 2, bias=False).double()
    layer.weight.data[...] = taps
    return layer


rng = np.random.default_rng(0)
half_one_half = np.outer([0.5, 1, 0.5], [0.5, 1, 0.5])[None, None]
layers = {"k3, constant taps": transposed(3, np.ones((1, 1, 3, 3)) / 2.25),
          "k3, taps [.5, 1, .5]": transposed(3, half_one_half),
          "k4, constant taps": transposed(4, np.ones((1, 1, 4, 4)) / 4),
          "k4, random taps": transposed(4, rng.normal(size=(1, 1, 4, 4)) * 0.5)}
flat_in = np.ones((1, 1, 8, 8))
measured = {}
for name, layer in layers.items():
    out = layer(flat_in).data[0, 0, 3:-3, 3:-3]  # away from the borders
    measured[name] = {"out": out, "phase_sums": phase_gains(layer)[0, 0],
                      "spread": phase_gain_spread(phase_gains(layer)),
                      "nyquist": nyquist_share(layer, 1, size=16, bandwidth=2)}
    print(f"{name:<22} phase sums {measured[name]['phase_sums'].ravel().round(3)}  spread "
          f"{measured[name]['spread']:.3f}  Nyquist share {measured[name]['nyquist']:.4f}")
tu.manual_seed(0)
bilinear_share = nyquist_share(make_upsampler("bilinear", 4, 4), 4, size=16, bandwidth=2)
print(f"bilinear resize        Nyquist share {bilinear_share:.6f}")

# %% [markdown]
# ## Does training fix it?
#
# A U-Net whose decoder upsamples with kernel-4 stride-2 transposed convs, and one that
# resizes then convolves, trained briefly on cells; the spread of each upsampler at the start
# and at the end ([`train_and_track`](../tinyunet/lab/checkerboard.py#train_and_track)).
# Training lowers the tconv's spread a little; nothing in the loss pushes it to zero.

# %%
settings = {**DEFAULT, "size": 16, "base_channels": 4, "depth": 2, "batch_size": 4,
            "steps": fast_or_full(40, 400), "track_every": 10, "probe_size": 16,
            "bandwidth": 2}
train_images, train_masks = cells(fast_or_full(16, 64), 16, seed=0)
trained = {name: train_and_track(name, train_images, train_masks, settings, seed=0)
           for name in ("tconv_k4s2", "resize_conv")}
for name, t in trained.items():
    print(f"{name:<12} spread at step 0 {np.mean(t['spread'][0]):.3f}, at step "
          f"{t['steps'][-1]} {np.mean(t['spread'][-1]):.3f}; Nyquist share {t['nyquist_share']:.4f}")

# %% [markdown]
# ## The slider: kernel size (stride 2)
#
# Left, a constant kernel: the coverage, uneven for odd kernels. Right, the same kernel size
# with random taps, the way every learned layer starts: a checkerboard for every size.


# %%
def draw_kernel(axes, kernel_size):
    k = kernel_size
    const = transposed(k, np.ones((1, 1, k, k)))(flat_in).data[0, 0, 3:-3, 3:-3]
    tap = np.random.default_rng(k).normal(size=(1, 1, k, k))
    rand = transposed(k, tap)(flat_in).data[0, 0, 3:-3, 3:-3]
    for a, img, title in ((axes[0], const, "constant taps"), (axes[1], rand, "random taps")):
        im = a.imshow(img, cmap="magma")
        a.set_title(f"k{k} s2, {title}", fontsize=10)
        a.set_xlabel("output column")
        a.set_ylabel("output row")
        a.figure.colorbar(im, ax=a, shrink=0.8, label="output of a constant input")


interact(draw_kernel, panels=2, panel_size=(3.6, 3.0),
         title="a constant input through a stride-2 transposed conv", kernel_size=[2, 3, 4, 5])

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(2, 4, figsize=(15, 7.6), layout="constrained")
lo = min(g.min() for g in grown.values())
hi = max(g.max() for g in grown.values())
for a, (title, img) in zip(ax[0], grown.items()):
    a.imshow(img, cmap="magma", vmin=lo, vmax=hi)
    a.set_title(title + "\n(constant kernel)" if "transposed" in title else title, fontsize=10)
for a, (name, m) in zip(ax[1], measured.items()):
    im = a.imshow(m["out"], cmap="magma")
    fig.colorbar(im, ax=a, shrink=0.75, label="output of a constant input")
    sums = ", ".join(f"{v:.2f}" for v in m["phase_sums"].ravel())
    a.set_title(f"{name}\nphase sums {sums}\n"
                f"spread {m['spread']:.2f}, Nyquist share {m['nyquist']:.3f}", fontsize=9)
for a in ax.ravel():
    a.set_xlabel("output column")
    a.set_ylabel("output row")
fig.suptitle("top: one smooth 12x12 map grown four ways.   bottom: a constant input through four "
             "stride-2 transposed convs\nspread = |max - min| / |mean| of the per-phase tap sums; "
             "Nyquist share = fraction of output energy at the checkerboard frequency "
             "(smooth inputs)", fontsize=10)
show(fig, "Even coverage is not what matters: equal per-phase tap sums are. k3 with "
          "[.5, 1, .5] is flat, k4 with random taps checkerboards.")

# %% [markdown]
# So the robust fixes are the ones that make the phases equal *by construction*: resize then
# convolve (every phase is the same conv of the same resized map), or a sub-pixel conv started
# with ICNR; a transposed conv with a "good" kernel size only starts with equal phases when
# its taps are equal, which a learned layer never keeps.
#
# ## What this chapter showed, as asserts

# %%
assert k3["period_1d"] == [2, 1] and sorted(block.ravel().tolist()) == [1, 2, 2, 4]
assert k3["values_2d"] == [1, 2, 4] and coverage_summary(4, 2)["uniform"]
assert sorted(np.unique(input_gradient_map(3, 2)).tolist()) == [1.0, 2.0, 4.0]
m = measured
assert np.ptp(m["k3, constant taps"]["out"]) > 1 and m["k3, constant taps"]["spread"] > 1
assert np.ptp(m["k3, taps [.5, 1, .5]"]["out"]) < 1e-12 and m["k3, taps [.5, 1, .5]"]["spread"] == 0
assert np.ptp(m["k4, constant taps"]["out"]) < 1e-12
assert np.ptp(m["k4, random taps"]["out"]) > 0.5 and m["k4, random taps"]["spread"] > 0.5
assert m["k4, random taps"]["nyquist"] > 100 * m["k3, taps [.5, 1, .5]"]["nyquist"]
assert bilinear_share < 1e-4
assert np.mean(trained["tconv_k4s2"]["spread"][-1]) > 0.5
assert np.mean(trained["resize_conv"]["spread"][-1]) < 1e-9
print("chapter 6: all asserts hold")
