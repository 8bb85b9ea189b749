"""The command line: ``tinyunet COMMAND [options]`` (or ``python -m tinyunet``).

Each command lives in a module of its own here (or beside its code, as ``lab`` and
``diffuse`` do) with one function that adds its sub-parser and sets ``run``, the function that
carries it out; :data:`COMMANDS` lists them. Adding a command is writing one such function and
appending it to the list::

    def add_hello(commands):
        p = command(commands, "hello", "say hello", examples=["tinyunet hello --name you"])
        p.add_argument("--name", default="world", help="whom to greet (default: world)")
        p.set_defaults(run=lambda args: print(f"hello, {args.name}"))

Each module imports the framework inside its ``run`` (``train`` also reads TrainConfig's
defaults to show them in its help).
"""

from __future__ import annotations

import argparse
import sys

from .bench import add_bench
from .course import add_course
from .data import add_data
from .demo import add_demo
from .export import add_export
from .import_ import add_import
from .predict import add_predict
from .summary import add_summary
from .train import add_train


def add_lab(commands):
    from ..lab.cli import add_lab_parser

    add_lab_parser(commands)


def add_diffuse(commands):
    from ..diffusion.cli import add_diffuse_parser

    add_diffuse_parser(commands)


COMMANDS = [add_demo, add_train, add_predict, add_data, add_summary, add_lab, add_diffuse,
            add_bench, add_export, add_import, add_course]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyunet",
        description="tinyunet: a from-scratch deep-learning framework that teaches the U-Net.",
        epilog="examples:\n  tinyunet demo --out runs/demo\n  tinyunet summary --base-channels "
               "64 --up-mode bilinear --size 256\n  tinyunet COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
