"""What every command's parser shares: a one-line summary, a description, examples."""

from __future__ import annotations

import argparse


def command(commands, name: str, summary: str, description: str = "", examples=()):
    """A sub-parser with its one-line summary, a description, and examples in the epilog."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    return commands.add_parser(name, help=summary, description=description or summary,
                               epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
