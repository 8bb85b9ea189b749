"""Experiment ``trace``: feature-map sizes down and up a plain encoder-decoder.

On the way down every level halves the spatial size (2 x 2 max-pool) and doubles the
channels, until the bottleneck: the smallest map with the most channels. On the way up every
level doubles the size and halves the channels, back to full resolution and one logit per
class per pixel. The lesson's numbers: a 256 x 256 input (65,536 positions) reaches the
bottleneck of a depth-4 network at 16 x 16 (256 positions) -- rich in channels, poor in *where*.

The sizes come from running the model (``tinyunet.models.trace``), not from a formula.
"""

from __future__ import annotations

import numpy as np

from ..models import EncoderDecoder
from ..models import trace as trace_rows
from .common import Outcome, Stopwatch, choose_settings, jsonable, pyplot

DEFAULT = dict(size=256, depth=4, base_channels=16, in_channels=1, num_classes=2)
FULL = dict()  # a trace is one forward pass: the default is already the full experiment


def trace(seed: int = 0, full: bool = False, **settings) -> Outcome:
    s = choose_settings("trace", DEFAULT, FULL, full, settings)
    clock = Stopwatch()
    model = EncoderDecoder(in_channels=s["in_channels"], num_classes=s["num_classes"],
                           base_channels=s["base_channels"], depth=s["depth"])
    rows = trace_rows(model, (1, s["in_channels"], s["size"], s["size"]))
    stages = [{"name": "input", "layer": "", "channels": s["in_channels"],
               "height": s["size"], "width": s["size"]}]
    stages += [{"name": r.name, "layer": r.layer, "channels": r.output_shape[1],
                "height": r.output_shape[2], "width": r.output_shape[3]} for r in rows]

    def level_sizes(prefix):
        return [(st["height"], st["channels"]) for st in stages if st["name"].startswith(prefix)]

    bottleneck = next(st for st in stages if st["name"] == "bottleneck")
    numbers = jsonable({
        "experiment": "trace", "seed": seed, "settings": s, "stages": stages,
        "encoder": [{"size": h, "channels": c} for h, c in level_sizes("encoder.")],
        "bottleneck": {"size": bottleneck["height"], "channels": bottleneck["channels"]},
        "decoder": [{"size": h, "channels": c} for h, c in level_sizes("decoder.")],
        "input_positions": s["size"] ** 2,
        "bottleneck_positions": bottleneck["height"] * bottleneck["width"],
        "output_shape": list(rows[-1].output_shape),
        "seconds": clock.seconds,
    })
    return Outcome(numbers, lambda: _figure(numbers))


def _figure(numbers):
    plt = pyplot()
    stages = numbers["stages"]
    names = [st["name"] for st in stages]
    xs = np.arange(len(stages))
    colours = ["tab:blue" if n.startswith(("encoder", "pool")) else
               "tab:red" if n == "bottleneck" else
               "tab:green" if n.startswith(("ups", "decoder", "head")) else "tab:gray"
               for n in names]
    fig, ax = plt.subplots(2, 1, figsize=(max(8, 0.55 * len(stages)), 6), sharex=True,
                           layout="constrained")
    ax[0].bar(xs, [st["height"] for st in stages], color=colours)
    ax[0].set_yscale("log", base=2)
    ax[0].set_ylabel("spatial size (H = W)")
    for x, st in zip(xs, stages):
        ax[0].text(x, st["height"], str(st["height"]), ha="center", va="bottom", fontsize=7)
    ax[1].bar(xs, [st["channels"] for st in stages], color=colours)
    ax[1].set_yscale("log", base=2)
    ax[1].set_ylabel("channels")
    for x, st in zip(xs, stages):
        ax[1].text(x, st["channels"], str(st["channels"]), ha="center", va="bottom", fontsize=7)
    ax[1].set_xticks(xs, names, rotation=60, fontsize=8)
    s = numbers["settings"]
    fig.suptitle(f"plain encoder-decoder, depth {s['depth']}, input {s['size']}x{s['size']}: "
                 f"{numbers['input_positions']:,} positions in, "
                 f"{numbers['bottleneck_positions']:,} at the bottleneck\n"
                 "blue: down (size halves, channels double), red: bottleneck, green: up")
    return fig
