"""The student's version of a marked file: each block of an assigned task becomes a ``raise``.

A block of *statements* becomes, at the block's indentation::

    # Task 2.1: write this part (tutorials/ch02_size_trace.py)
    # Hint: w is not flipped: this is cross-correlation
    raise NotImplementedError("Task 2.1: conv2d forward, as loops - see "
                              "tutorials/ch02_size_trace.py")

A block of *definitions* keeps every class and every function's signature and docstring, and
each function's body becomes that ``raise``. Blocks of tasks that are not assigned keep their
code (a later release carries the earlier stages' solutions forward); every marker line goes.
"""

from __future__ import annotations

import ast
import textwrap

from .markers import Region, units_of
from .tasks import EXTENSIONS
from .tasks import task as lookup


def message(task_id: str, hint: str | None = None, extension: str | None = None) -> str:
    t = lookup(task_id)
    text = f"Task {t.id}: {t.title} - see {t.chapter}"
    if extension:
        e = EXTENSIONS[extension]
        text = f"optional ({e.title}): {e.stub.format(task=t.id)} - see README.md"
    return f"{text}. Hint: {hint}" if hint else text


def stub_lines(region: Region, indent: str) -> list[str]:
    """The comment, the given lines and the ``raise`` that replace one block (or body)."""
    t = lookup(region.task)
    lines = [f"{indent}# Task {t.id}: write this part ({t.chapter})"]
    if region.extension:
        e = EXTENSIONS[region.extension]
        lines = [f"{indent}# Optional, ungraded ({e.title}): {e.stub.format(task=t.id)}"]
    if region.hint:
        lines.append(f"{indent}# Hint: {region.hint}")
    if region.stub:
        lines += [f"{indent}{line}" for line in region.stub.split("\\n")]
    pieces = textwrap.wrap(message(region.task, region.hint, region.extension), 60,
                           drop_whitespace=False)
    head = f"{indent}raise NotImplementedError("
    literal = ("\n" + " " * len(head)).join(repr(p) for p in pieces)
    lines.append(f"{head}{literal})")
    return lines


def render(text: str, regions: list[Region], assigned: set[str]) -> str:
    """``text`` with the blocks of the ``assigned`` tasks stubbed and every marker removed."""
    lines = text.splitlines()
    out, at = [], 0
    for region in sorted(regions, key=lambda r: r.begin):
        out += lines[at: region.begin - 1]
        block = lines[region.begin: region.end - 1]
        if region.task not in assigned:
            out += block
        elif region.kind == "statements":
            out += stub_lines(region, region.indent)
        else:
            out += _stub_definitions(block, region)
        at = region.end
    out += lines[at:]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _stub_definitions(block: list[str], region: Region) -> list[str]:
    """Every function in a block of definitions keeps its header and docstring only."""
    shift = len(region.indent)
    tree = ast.parse(textwrap.dedent("\n".join(block)))
    cuts = []  # (first line, last line, indent) of each body, 0-based in ``block``
    for node in units_of(tree).values():
        body = node.body
        documented = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                      and isinstance(body[0].value.value, str))
        indent = " " * (body[0].col_offset + shift)
        if documented:
            first = body[0].end_lineno
        else:
            first = body[0].lineno - 1
            while first > node.lineno and _blank_or_comment(block[first - 1]):
                first -= 1  # comments above the first statement belong to the body
        cuts.append((first, body[-1].end_lineno if len(body) > 1 or not documented else first,
                     indent))
    out, at = [], 0
    for first, last, indent in sorted(cuts):
        out += block[at:first]
        out += stub_lines(region, indent)
        at = max(last, first)
    return out + block[at:]


def _blank_or_comment(line: str) -> bool:
    return not line.strip() or line.strip().startswith("#")
