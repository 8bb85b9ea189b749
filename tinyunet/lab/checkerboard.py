"""Experiment ``checkerboard``: where the transposed conv's artifact comes from, and what keeps it.

The lesson says: a transposed conv with kernel 3 and stride 2 covers output pixels unevenly
(some by 2 placements, their neighbours by 1), which paints a checkerboard; make the kernel a
multiple of the stride, or resize then convolve. This experiment checks each part:

1. coverage maps (``overlap.py``): kernel 3 stride 2 gives 2, 1 in 1-D and 4, 2, 1 in 2-D;
   kernel 4 or 2 with stride 2 is uniform; over many (kernel, stride) pairs, uniform exactly
   when the stride divides the kernel. The input-gradient of a stride-2 kernel-3 conv is the
   same 4, 2, 1 map.
2. the Nyquist share (``spectrum.py``) of eight upsamplers, with (a) constant kernels, where
   only coverage differs, (b) random initial weights, averaged over seeds, (c) the weights a
   U-Net's decoder learned in a short training. Finding: coverage decides (a), but not (b):
   random taps make the phase gains unequal whatever the coverage, so every randomly
   initialised transposed conv and sub-pixel conv starts with a large share. Only the resizes
   are artifact-free by construction, and ICNR by initialisation.
3. the phase gain spread (``phase_gain.py``) of each upsampling layer of a U-Net, tracked
   during training: zero for the resizes at every step; ICNR starts at zero and drifts away
   as its phases learn separately; the transposed convs start far from zero.
4. ICNR done right: sub-pixel conv + shuffle equals nearest upsampling of the conv at
   initialisation, exactly; tiling the kernels instead of repeating them breaks it.

The figure: one small map grown four ways (nearest, bilinear, a kernel-4 and a kernel-3
transposed conv with constant kernels), then the coverage maps, the gradient map, the Nyquist
shares and the spread curves.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import optim
from ..grad_mode import no_grad
from ..models import UNet
from ..nn.upsample import SubPixelUpsample, icnr_
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
from .overlap import coverage_map_1d, coverage_map_2d, coverage_summary, input_gradient_map
from .phase_gain import phase_gain_spread, phase_gains
from .spectrum import (
    UPSAMPLERS,
    make_upsampler,
    nyquist_share,
    smooth_periodic,
    uniform_weights_,
    upsample_periodic,
)

DEFAULT = dict(size=32, base_channels=8, depth=2, steps=120, batch_size=8, lr=3e-3,
               n_train=48, seeds=16, channels=8, probe_size=32, bandwidth=3, track_every=5,
               trained=("resize_conv", "subpixel", "subpixel_icnr", "tconv_k2s2",
                        "tconv_k4s2", "tconv_k3s2"))
FULL = dict(size=48, depth=3, steps=400, n_train=128, seeds=32, track_every=20)

# (kernel, stride) pairs for the coverage property: kernels 1..8, strides 1..4
PAIRS = [(k, s) for s in range(1, 5) for k in range(1, 9)]


# ----- the U-Net whose decoder upsamples with a chosen layer --------------------------------
def unet_with(upsampler: str, base_channels: int, depth: int) -> UNet:
    """A U-Net whose decoder upsamples with ``upsampler``. The resizes are the U-Net's own
    up_mode ("nearest", "bilinear"); every learned upsampler takes the place of the
    transposed conv of ``up_mode="transposed"`` and, like it, halves the channels."""
    if upsampler in ("nearest", "bilinear"):
        return UNet(1, 2, base_channels, depth, up_mode=upsampler)
    model = UNet(1, 2, base_channels, depth, up_mode="transposed")
    for i, up in enumerate(model.ups):
        model.ups[i] = make_upsampler(upsampler, up.in_channels, up.out_channels)
    return model


def _up_in_channels(model: UNet) -> list[int]:
    """Input channels of each decoder upsampler, by level (ups.k takes level k + 1's c_{k+1})."""
    c = [model.config["base_channels"] * 2**k for k in range(model.config["depth"] + 1)]
    return [c[k + 1] for k in range(model.config["depth"])]


def spreads_of(model: UNet) -> list[float]:
    """The phase gain spread of each upsampling layer of ``model``, by level (ups.0 first)."""
    ups = zip(model.ups, _up_in_channels(model))
    return [phase_gain_spread(phase_gains(up, c)) for up, c in ups]


def train_and_track(upsampler: str, images, masks, s: dict, seed: int) -> dict:
    """Train a U-Net with this upsampler on cells (cross-entropy, Adam) and record the
    phase gain spread of its upsamplers along the way, and their Nyquist shares at the end."""
    seed_everything(seed)
    model = unet_with(upsampler, s["base_channels"], s["depth"])
    optimizer = optim.Adam(model.parameters(), lr=s["lr"])
    data = batches(images, masks, s["batch_size"], seed)
    steps, spreads = [0], [spreads_of(model)]
    for step in range(1, s["steps"] + 1):
        x, y = next(data)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()
        if step % s["track_every"] == 0 or step == s["steps"]:
            steps.append(step)
            spreads.append(spreads_of(model))
    shares = [nyquist_share(up, c, s["probe_size"], s["bandwidth"], seed=seed)
              for up, c in zip(model.ups, _up_in_channels(model))]
    return {"steps": steps, "spread": spreads, "nyquist_share": float(np.mean(shares)),
            "nyquist_share_per_layer": shares, "final_loss": float(loss.data)}


# ----- ICNR, and the bug it is easy to write ------------------------------------------------
def icnr_tiled_wrong_(weight, upscale_factor: int = 2):
    """The common ICNR bug, kept to show what it breaks: draw the C base kernels W0 as icnr_
    does, then *tile* the stack (W0[0], W0[1], ..., W0[0], W0[1], ...) where pixel_shuffle
    expects each kernel repeated in place (W0[0], W0[0], ..., W0[1], ...). Output channel c,
    phase p then gets kernel W0[(c*r*r + p) mod C]: right for C = 1 only."""
    r2 = upscale_factor**2
    icnr_(weight, upscale_factor)
    base = weight.data[::r2].copy()  # W0, the C base kernels
    weight.data[...] = np.tile(base, (r2, 1, 1, 1))
    return weight


def icnr_errors(in_channels: int = 3, out_channels: int = 4, seed: int = 0) -> dict:
    """max |subpixel(x) - nearest(conv(x, W0))| in float64, for ICNR and for the tiled bug,
    W0 being the base kernels each of them meant to use."""
    seed_everything(seed)
    x = np.random.default_rng(seed).normal(size=(2, in_channels, 6, 7))
    errors = {}
    for name in ("icnr", "tiled_wrong"):
        layer = SubPixelUpsample(in_channels, out_channels, icnr=True, bias=False)
        if name == "tiled_wrong":
            icnr_tiled_wrong_(layer.conv.weight)
        w = layer.conv.weight.data
        W0 = w[::4] if name == "icnr" else w[:out_channels]
        with no_grad():
            y = layer(Tensor(x)).data
            reference = F.interpolate(F.conv2d(x, W0, padding=1), scale_factor=2).data
        errors[name] = float(np.abs(y - reference).max())
    return errors


# ----- the experiment ---------------------------------------------------------------------------
def grow_four_ways(small: np.ndarray) -> dict:
    """The small map (S, S) upsampled by nearest, bilinear, and transposed convs with
    constant kernels of size 4 (even coverage) and 3 (uneven), each as (2S, 2S)."""
    ways = {"nearest": "nearest", "bilinear": "bilinear",
            "transposed k4 s2 (good)": "tconv_k4s2", "transposed k3 s2 (bad)": "tconv_k3s2"}
    x = small[None, None]
    return {title: upsample_periodic(uniform_weights_(make_upsampler(name, 1, 1)), x)[0, 0]
            for title, name in ways.items()}


def checkerboard(seed: int = 0, full: bool = False, **settings) -> Outcome:
    s = choose_settings("checkerboard", DEFAULT, FULL, full, settings)
    clock = Stopwatch()
    rng = seed_everything(seed)
    C = s["channels"]

    coverage = {f"k{k}s{s_}": coverage_summary(k, s_) for k, s_ in ((3, 2), (4, 2), (2, 2))}
    prop = [(k, s_, coverage_summary(k, s_)["uniform"]) for k, s_ in PAIRS]
    gradient = input_gradient_map(3, 2)

    nyquist = {}
    for name in UPSAMPLERS:
        random_init = []
        for i in range(s["seeds"]):
            seed_everything(seed * 1000 + i)
            layer = make_upsampler(name, C, C)
            random_init.append(nyquist_share(layer, C, s["probe_size"], s["bandwidth"],
                                             seed=seed * 1000 + i))
        uniform = uniform_weights_(make_upsampler(name, C, C))
        nyquist[name] = {
            "uniform_kernel": nyquist_share(uniform, C, s["probe_size"], s["bandwidth"]),
            "random_init_mean": float(np.mean(random_init)),
            "random_init_std": float(np.std(random_init)),
        }

    images, masks = cells(s["n_train"], s["size"], seed)
    training = {name: train_and_track(name, images, masks, s, seed) for name in s["trained"]}
    for name in UPSAMPLERS:
        if name in training:
            nyquist[name]["trained"] = training[name]["nyquist_share"]
        else:  # nearest, bilinear: no weights, nothing trained; or not in settings["trained"]
            nyquist[name]["trained"] = None

    small = smooth_periodic(1, 12, 2, rng)[0, 0]
    grown = grow_four_ways(small)

    numbers = jsonable({
        "experiment": "checkerboard", "seed": seed, "settings": s,
        "coverage": coverage,
        "coverage_property": {"pairs_checked": len(prop),
                              "uniform_iff_stride_divides_kernel":
                                  all(u == (k % s_ == 0) for k, s_, u in prop)},
        "input_gradient_k3s2": {"values": sorted({float(v) for v in np.unique(gradient)}),
                                "max_over_min": float(gradient.max() / gradient.min())},
        "nyquist_share": nyquist,
        "phase_gain_spread": {name: {"steps": t["steps"], "per_layer": t["spread"],
                                     "initial": float(np.mean(t["spread"][0])),
                                     "final": float(np.mean(t["spread"][-1]))}
                              for name, t in training.items()},
        "icnr_max_error": icnr_errors(seed=seed),
        "seconds": clock.seconds,
    })

    def draw():
        return _figure(small, grown, gradient, numbers, training)

    return Outcome(numbers, draw)


def _figure(small, grown, gradient, numbers, training):
    plt = pyplot()
    fig = plt.figure(figsize=(17, 7.5), layout="constrained")
    top = fig.subfigures(2, 1, height_ratios=[1, 1.1])
    ax = top[0].subplots(1, 5)
    ax[0].imshow(small, cmap="magma")
    ax[0].set_title(f"small map {small.shape[0]}x{small.shape[1]}")
    lo, hi = min(g.min() for g in grown.values()), max(g.max() for g in grown.values())
    for a, (title, img) in zip(ax[1:], grown.items()):
        a.imshow(img, cmap="magma", vmin=lo, vmax=hi)
        a.set_title(title)
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    top[0].suptitle("one small map grown four ways (constant kernels: only coverage differs)")

    ax = top[1].subplots(1, 5)
    for k, marker in ((3, "o-"), (4, "s--"), (2, "^:")):
        cov = coverage_map_1d(k, 2)
        ax[0].plot(cov, marker, label=f"kernel {k}, stride 2", ms=3)
    ax[0].set_title("1-D coverage (transposed conv of ones)")
    ax[0].set_xlabel("output position (pixel)")
    ax[0].set_ylabel("kernel placements covering it")
    ax[0].legend(fontsize=7)
    im = ax[1].imshow(coverage_map_2d(3, 2), cmap="viridis")
    ax[1].set_title("2-D coverage, kernel 3 stride 2")
    fig.colorbar(im, ax=ax[1], shrink=0.7, label="placements covering the pixel")
    im = ax[2].imshow(gradient, cmap="viridis")
    ax[2].set_title("input-gradient of conv k3 s2")
    fig.colorbar(im, ax=ax[2], shrink=0.7, label="dL/dx for dL/dy = 1")
    names = list(numbers["nyquist_share"])
    xs = np.arange(len(names))
    for offset, key, label in ((-0.27, "uniform_kernel", "constant kernel"),
                               (0.0, "random_init_mean", "random init"),
                               (0.27, "trained", "after training")):
        values = [numbers["nyquist_share"][n][key] for n in names]
        ax[3].bar(xs + offset, [np.nan if v is None else v for v in values], 0.27,
                  label=label)
    for x, n in zip(xs, names):
        if n in ("nearest", "bilinear"):  # nothing to train: say so where the bar would be
            ax[3].text(x + 0.27, 2e-6, "no weights", rotation=90, fontsize=6, va="bottom",
                       ha="center")
    ax[3].set_xticks(xs, names, rotation=60, fontsize=7)
    ax[3].set_yscale("log")
    ax[3].set_ylim(1e-6, 1.5)
    ax[3].set_ylabel("Nyquist share of output energy")
    ax[3].set_title("checkerboard energy: energy within B of\nthe Nyquist frequency / total "
                    "(smooth input)", fontsize=9)
    ax[3].legend(fontsize=7)
    for name, t in training.items():
        ax[4].plot(t["steps"], [np.mean(v) for v in t["spread"]], label=name)
    ax[4].set_xlabel("training step")
    ax[4].set_ylabel("phase gain spread (mean over layers)")
    ax[4].set_yscale("symlog", linthresh=1e-3)
    ax[4].set_title("U-Net training; spread = |max - min| /\n|mean| of the per-phase tap "
                    "sums\n(0 = no checkerboard)", fontsize=9)
    ax[4].legend(fontsize=7)
    fig.supxlabel("Takeaway: equal coverage is not enough -- learned taps make the phases "
                  "unequal; only resizes (and ICNR at the start) keep them equal.", fontsize=10)
    return fig
