"""The lesson's claims as experiments: each one measures, writes a figure and a JSON of numbers.

``shapes``        a classifier answers once per image, a segmenter once per pixel
``trace``         feature-map sizes down and up a plain encoder-decoder
``checkerboard``  transposed-conv coverage, the Nyquist energy of eight upsamplers, the phase
                  gain spread during training, ICNR, the gradient side
``blur``          without skips, a deeper bottleneck blurs the reproduced mask
``skips``         the same U-Net with skips on and off
``imbalance``     pixel accuracy vs Dice, and training with CE, Dice, CE + Dice at 1.5 %
                  foreground

    from tinyunet import lab
    numbers = lab.run("blur", out="lab_out")          # writes lab_out/blur.png and blur.json
    outcome = lab.EXPERIMENTS["blur"](depths=(1, 2))  # measure only, with other settings
    outcome.numbers, outcome.draw()                   # the numbers, the matplotlib figure

Every experiment is seeded and takes under a minute with its defaults on two cores;
``full=True`` runs its longer settings (minutes). On the command line:
``tinyunet lab NAME --out DIR [--full] [--seed N] [--set KEY=VALUE ...]``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .blur import blur
from .checkerboard import checkerboard
from .common import Outcome, pyplot
from .imbalance import imbalance
from .shapes import shapes
from .skips import skips
from .trace import trace

EXPERIMENTS = {
    "shapes": shapes,
    "trace": trace,
    "checkerboard": checkerboard,
    "blur": blur,
    "skips": skips,
    "imbalance": imbalance,
}


def run(name: str, out, full: bool = False, seed: int = 0, **settings) -> dict:
    """Run experiment ``name`` (``settings`` override its defaults, e.g. ``depth=3``); write
    ``out/NAME.png`` and ``out/NAME.json``; return the numbers (what the JSON holds)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {list(EXPERIMENTS)}")
    outcome = EXPERIMENTS[name](seed=seed, full=full, **settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(outcome.numbers, indent=2) + "\n")
    figure = outcome.draw()
    figure.savefig(out / f"{name}.png", dpi=110)
    pyplot().close(figure)
    return outcome.numbers


__all__ = ["EXPERIMENTS", "Outcome", "run", *EXPERIMENTS]
