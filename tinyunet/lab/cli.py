"""``tinyunet lab NAME --out DIR``: run one of the lesson's experiments from the command line.

``add_lab_parser(commands)`` adds the sub-command to the ``tinyunet`` parser (the
sub-parsers object of ``argparse``) and sets ``run`` to the function that carries it out,
as every command of ``tinyunet.cli`` does.
"""

from __future__ import annotations

import argparse
import ast
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
                "  tinyunet lab trace --out lab_out --set depth=3 --set size=128\n"
                "  tinyunet lab all --out lab_out"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", choices=[*EXPERIMENTS, "all"],
                   help="the experiment to run, or 'all' (choices: "
                        + ", ".join(EXPERIMENTS) + ", all)")
    p.add_argument("--out", default="lab_out", help="output folder (default: lab_out)")
    p.add_argument("--full", action="store_true",
                   help="the longer settings (bigger models, more steps: minutes, not seconds)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override one setting of the experiment, e.g. --set depth=3 --set "
                        "size=128 (repeatable; each experiment's settings are listed in its "
                        "JSON)")
    p.set_defaults(run=run_lab)
    return p


def parse_setting(text: str) -> tuple[str, object]:
    """``"depth=3"`` -> ``("depth", 3)``; the value is a Python literal (``3``, ``0.01``,
    ``(1, 2)``, ``None``) or else a string (``up=bilinear``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        return key.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return key.strip(), value.strip()


def _print_numbers(numbers: dict, indent: str = "  ", width: int = 120) -> None:
    """One line per entry; a dict too long for a line opens into its entries."""
    for key, value in numbers.items():
        text = json.dumps(value)
        if len(indent + key) + len(text) + 2 <= width:
            print(f"{indent}{key}: {text}")
        elif isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_numbers(value, indent + "  ", width)
        else:
            print(f"{indent}{key}: {text[:width - len(indent + key) - 5]}...")


def run_lab(args) -> int:
    from . import EXPERIMENTS, run
    from .common import UnknownSetting

    settings = dict(parse_setting(text) for text in args.settings)
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    if settings and len(names) > 1:
        raise SystemExit("tinyunet lab: --set applies to one experiment, not to 'all'")
    for name in names:
        try:
            numbers = run(name, args.out, full=args.full, seed=args.seed, **settings)
        except UnknownSetting as error:  # the message lists the settings that exist
            raise SystemExit(f"tinyunet lab: {error}") from None
        print(f"== {name}: wrote {args.out}/{name}.png and {args.out}/{name}.json")
        shown = {k: v for k, v in numbers.items() if k not in ("experiment", "settings", "stages")}
        _print_numbers(shown)
    return 0
