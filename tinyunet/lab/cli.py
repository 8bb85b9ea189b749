"""``tinyunet lab NAME --out DIR``: run one of the lesson's experiments from the command line.

``add_lab_parser(commands)`` adds the sub-command to the ``tinyunet`` parser (the
sub-parsers object of ``argparse``) and sets ``run`` to the function that carries it out,
as every command of ``tinyunet.cli`` does.
"""

from __future__ import annotations

import argparse
import json


def _one_line(fn) -> str:
    """The first line of an experiment module's docstring, without its 'Experiment ``x``: '."""
    import sys

    doc = (sys.modules[fn.__module__].__doc__ or "").strip().splitlines()[0]
    return doc.split(": ", 1)[-1].rstrip(".")


def add_lab_parser(commands) -> argparse.ArgumentParser:
    from . import EXPERIMENTS  # the experiments import the framework: only when asked

    listing = "\n".join(f"  {name:<13} {_one_line(fn)}" for name, fn in EXPERIMENTS.items())
    p = commands.add_parser(
        "lab", help="run one of the lesson's experiments (figure + JSON of its numbers)",
        description=(
            "Run one of the lesson's claims as an experiment. Writes DIR/NAME.png (the\n"
            "figure) and DIR/NAME.json (the numbers, with the settings and the seed) and\n"
            "prints the numbers. Each experiment is seeded and takes under a minute on two\n"
            "cores with its defaults; --full runs its longer settings.\n\n"
            "experiments:\n" + listing),
        epilog=("examples:\n  tinyunet lab checkerboard --out lab_out\n"
                "  tinyunet lab skips --out lab_out --full --seed 1\n"
                "  tinyunet lab all --out lab_out"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", choices=[*EXPERIMENTS, "all"],
                   help="the experiment to run, or 'all' (choices: "
                        + ", ".join(EXPERIMENTS) + ", all)")
    p.add_argument("--out", default="lab_out", help="output folder (default: lab_out)")
    p.add_argument("--full", action="store_true",
                   help="the longer settings (bigger models, more steps: minutes, not seconds)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(run=run_lab)
    return p


def run_lab(args) -> int:
    from . import EXPERIMENTS, run

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    for name in names:
        numbers = run(name, args.out, full=args.full, seed=args.seed)
        print(f"== {name}: wrote {args.out}/{name}.png and {args.out}/{name}.json")
        for key, value in numbers.items():
            if key not in ("experiment", "settings", "stages"):
                text = json.dumps(value)
                print(f"  {key}: {text if len(text) <= 160 else text[:157] + '...'}")
    return 0
