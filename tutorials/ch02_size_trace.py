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
# # 2. Down to understand, up to localize: the size trace
#
# The encoder convolves then downsamples, again and again: every 2x2 max-pool halves the
# height and width while the next block doubles the channels. At the bottom, the bottleneck,
# the map is small and rich. The decoder reverses the journey, doubling the size at each step
# until the output is as large as the input and can hold one prediction per pixel. This
# chapter reads those sizes off a real forward pass (they are measured, not computed from a
# formula) with [`trace`](../tinyunet/models/summary.py#trace) and
# [`summary`](../tinyunet/models/summary.py#summary).

# %%
import numpy as np
from bookkit import interact, show

from tinyunet.models import EncoderDecoder, UNet, summary, trace

# %% [markdown]
# ## A plain encoder-decoder on a 256 x 256 image
#
# Depth 4 means four max-pools. The lesson's numbers: 256 x 256 = 65,536 positions go in,
# and the bottleneck has 16 x 16 = 256 of them, each with 16 times the channels of the first
# level.

# %%
model = EncoderDecoder(in_channels=1, num_classes=2, base_channels=16, depth=4)
text = summary(model, (1, 1, 256, 256))


def profile(rows):
    """(spatial size, channels, part) per ConvBlock, the bottleneck being the smallest map."""
    blocks = [r for r in rows if r.layer == "ConvBlock"]
    bottom = min(range(len(blocks)), key=lambda i: blocks[i].output_shape[-1])
    part = ["down"] * bottom + ["bottleneck"] + ["up"] * (len(blocks) - bottom - 1)
    return [(b.output_shape[-1], b.output_shape[1], p) for b, p in zip(blocks, part)]


levels = profile(trace(model, (1, 1, 256, 256)))
bottleneck = next(size for size, _, part in levels if part == "bottleneck")
print("\nConvBlock outputs (size, channels):", [(s, c) for s, c, _ in levels])
print(f"positions: {256 * 256:,} in, {bottleneck**2:,} at the bottleneck")

# %% [markdown]
# ## The slider: depth
#
# Each extra level halves the bottleneck again. At depth 5 a 256-pixel image is down to
# 8 x 8 = 64 positions. Every point below is one block of the network, measured by running it.


# %%
def draw_depth(ax, depth):
    rows = profile(trace(EncoderDecoder(base_channels=4, depth=depth), (1, 1, 256, 256)))
    sizes = [s for s, _, _ in rows]
    colours = {"down": "tab:blue", "bottleneck": "tab:red", "up": "tab:green"}
    ax.plot(sizes, "-", color="0.7")
    for i, (s, _, part) in enumerate(rows):
        ax.plot(i, s, "o", color=colours[part], ms=7)
    ax.set_yscale("log", base=2)
    ax.set_ylim(4, 512)
    ax.set_yticks([4, 16, 64, 256], ["4", "16", "64", "256"])
    ax.set_xlabel("block along the network")
    ax.set_ylabel("spatial size (pixels per side)")
    ax.set_title(f"depth {depth}: bottleneck {min(sizes)}x{min(sizes)}", fontsize=10)


interact(draw_depth, title="blue: encoder, red: bottleneck, green: decoder",
         depth=[1, 2, 3, 4, 5])

# %% [markdown]
# ## The original paper: 572 in, 388 out
#
# Ronneberger et al. used *valid* convolutions: no padding, so every 3x3 conv trims one pixel
# on each side, and the output mask is smaller than the input. Sizes do not depend on the
# widths, so we trace a narrow copy (`base_channels=4`; the paper's 64 only multiplies the
# channels by 16). On the way up the encoder's saved map is larger than the decoder's, and the
# skip connection crops its centre before the concatenation.

# %%
paper = trace(UNet(padding="valid", base_channels=4, depth=4), (1, 1, 572, 572))
valid = profile(paper)
print("ConvBlock sizes, valid padding:", [s for s, _, _ in valid])
output = paper[-1].output_shape
encoder_sizes = [s for s, _, part in valid if part == "down"]
up_sizes = [r.output_shape[-1] for r in paper if r.layer == "ConvTranspose2d"]
crops = [(e - u) // 2 for e, u in zip(reversed(encoder_sizes), up_sizes)]
print("output:", output, " skips: encoder", encoder_sizes[::-1], "-> decoder", up_sizes,
      " cropped per side:", crops)

# %%
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

fig, ax = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
for a, (rows, title) in zip(ax, ((levels, "'same' padding, 256 x 256 input"),
                                 (valid, "'valid' padding (the paper), 572 x 572 input"))):
    sizes = [s for s, _, _ in rows]
    a.plot(sizes, "-", color="0.75", zorder=1)
    for part, colour in (("down", "tab:blue"), ("bottleneck", "tab:red"), ("up", "tab:green")):
        pts = [(i, s, c) for i, (s, c, p) in enumerate(rows) if p == part]
        a.scatter([p[0] for p in pts], [p[1] for p in pts], s=[12 * np.log2(p[2]) ** 2
                                                               for p in pts],
                  color=colour, label=part, zorder=2)
        for i, s, c in pts:
            a.annotate(f"{s}\n{c} ch", (i, s), textcoords="offset points", xytext=(0, 9),
                       ha="center", fontsize=7)
    a.set_yscale("log", base=2)
    a.set_ylim(8, 1400)
    a.yaxis.set_major_formatter(ScalarFormatter())
    a.set_xlabel("ConvBlock along the network (dot area ~ channels)")
    a.set_ylabel("spatial size (pixels per side)")
    a.set_title(title)
    legend = a.legend(loc="lower left", fontsize=8)
    for handle in legend.legend_handles:
        handle.set_sizes([40])
show(fig, f"Down the U the grid halves and the channels double (256 -> {bottleneck}); up it "
          f"doubles back, and with valid convs 572 comes out as {output[-1]}.")

# %% [markdown]
# ## What this chapter showed, as asserts

# %%
assert [s for s, _, _ in levels] == [256, 128, 64, 32, 16, 32, 64, 128, 256]
assert [c for _, c, _ in levels] == [16, 32, 64, 128, 256, 128, 64, 32, 16]
assert bottleneck == 16 and bottleneck**2 == 256 and 256 * 256 == 65_536
assert "total parameters: 1,744,994" in text
assert output == (1, 2, 388, 388)
assert encoder_sizes == [568, 280, 136, 64] and up_sizes == [56, 104, 200, 392]
assert crops == [4, 16, 40, 88]
print("chapter 2: all asserts hold")
