"""Solution markers: the blocks of the library's own source that students write.

A block is two comment lines around code that stays exactly as it is::

    def conv2d(x, w, b, stride, padding, dilation):
        \"\"\"...\"\"\"
        # BEGIN SOLUTION task=2.1 hint="w is not flipped: this is cross-correlation"
        N, C_in, H, W = x.shape
        ...
        return y
        # END SOLUTION

``task`` is required; ``hint`` (shown to the student) and ``stub`` (lines given to the student
above the ``raise``, ``\\n`` between lines) are optional, and so is ``extension=NAME``: an
optional, ungraded block beside the task (``tasks.EXTENSIONS``), stubbed with it but listed
apart. A block is one of two kinds:

* *statements* inside a function: the student gets one ``raise NotImplementedError(...)``
  in their place;
* *definitions* (classes, functions): every function defined in it keeps its signature and
  docstring and gets the ``raise`` as its body.

The unit of grading is the function: each block names the functions it writes (``units``,
qualified names such as ``Conv2d.backward``), and the grader swaps whole functions when it
grades a task with the reference version of an earlier one. So a function holds blocks of one
task only. Markers are found with ``tokenize``, so a docstring that quotes one is not a block.
"""

from __future__ import annotations

import ast
import io
import re
import shlex
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"#\s*BEGIN SOLUTION\b(?P<args>.*)$")
END = re.compile(r"#\s*END SOLUTION\s*$")
PACKAGE = "tinyunet"
NOT_SCANNED = ("tinyunet/course/",)  # the kit itself talks about markers


class MarkerError(ValueError):
    """A malformed block: the message names the file and line."""


@dataclass(frozen=True)
class Region:
    path: str                  # "tinyunet/kernels/reference/conv.py" (posix, from the root)
    task: str
    begin: int                 # 1-based line of the BEGIN marker
    end: int                   # 1-based line of the END marker
    indent: str
    kind: str                  # "statements" or "definitions"
    units: tuple[str, ...]     # the functions the block writes ("Conv2d.backward", ...)
    hint: str | None = None
    stub: str | None = None
    extension: str | None = None   # an optional, ungraded block beside the task

    @property
    def module(self) -> str:
        return module_name(self.path)


def module_name(path: str) -> str:
    """``tinyunet/ops/math.py`` -> ``tinyunet.ops.math`` (a package's ``__init__`` -> itself)."""
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def scan(root: Path) -> dict[str, list[Region]]:
    """Every marked block under ``root/tinyunet`` (``root`` is a repository), by file."""
    root = Path(root)
    found = {}
    for file in sorted((root / PACKAGE).rglob("*.py")):
        path = file.relative_to(root).as_posix()
        if path.startswith(NOT_SCANNED):
            continue
        regions = parse(file.read_text(), path)
        if regions:
            found[path] = regions
    return found


def parse(text: str, path: str) -> list[Region]:
    """The blocks of one file, checked: paired, not nested, whole statements, one task per
    function."""
    lines = text.splitlines()
    tree = ast.parse(text)
    regions, open_at = [], None
    for line, comment in _comments(text):
        where = f"{path}:{line}"
        if BEGIN.match(comment):
            if open_at is not None:
                raise MarkerError(f"{where}: BEGIN SOLUTION inside the block opened at line "
                                  f"{open_at[0]}")
            open_at = (line, _arguments(BEGIN.match(comment)["args"], where))
        elif END.match(comment):
            if open_at is None:
                raise MarkerError(f"{where}: END SOLUTION without a BEGIN SOLUTION")
            regions.append(_region(path, lines, tree, open_at[0], line, open_at[1]))
            open_at = None
    if open_at is not None:
        raise MarkerError(f"{path}:{open_at[0]}: BEGIN SOLUTION is never closed")
    owners = {}
    for r in regions:
        for unit in r.units:
            if owners.setdefault(unit, r.task) != r.task:
                raise MarkerError(f"{path}: {unit} holds blocks of Task {owners[unit]} and "
                                  f"Task {r.task}; a function belongs to one task")
    return regions


def _comments(text):
    """(line, comment) for every comment that stands alone on its line."""
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT and not tok.line[: tok.start[1]].strip():
            yield tok.start[0], tok.string


def _arguments(args: str, where: str) -> dict:
    try:
        pairs = [item.split("=", 1) for item in shlex.split(args)]
    except ValueError as err:
        raise MarkerError(f"{where}: cannot read the marker's arguments {args!r}: {err}") from None
    if any(len(p) != 2 for p in pairs):
        raise MarkerError(f"{where}: marker arguments are key=value pairs, got {args!r}")
    found = dict(pairs)
    unknown = set(found) - {"task", "hint", "stub", "extension"}
    if unknown or "task" not in found:
        raise MarkerError(f"{where}: a marker takes task=..., hint=\"...\", stub=\"...\", "
                          f"extension=...; got {args!r}")
    return found


def _region(path, lines, tree, begin, end, args) -> Region:
    where = f"{path}:{begin}"
    indent = _indent(lines[begin - 1])
    if _indent(lines[end - 1]) != indent:
        raise MarkerError(f"{where}: BEGIN and END SOLUTION (line {end}) are indented differently")
    body = "\n".join(lines[begin:end - 1])
    try:
        block = ast.parse(textwrap.dedent(body))
    except SyntaxError as err:
        raise MarkerError(f"{where}: the block is not whole statements ({err.msg})") from None
    if not block.body:
        raise MarkerError(f"{where}: the block is empty")
    defines = any(isinstance(s, (ast.FunctionDef, ast.ClassDef)) for s in block.body)
    units = _defined_units(tree, begin, end) if defines else _enclosing_unit(tree, begin, where)
    if not units:
        raise MarkerError(f"{where}: the block defines no function")
    return Region(path, args["task"], begin, end, indent,
                  "definitions" if defines else "statements", tuple(units),
                  args.get("hint"), args.get("stub"), args.get("extension"))


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


# ----- units: the functions a block writes ----------------------------------------------------
def units_of(tree) -> dict[str, ast.FunctionDef]:
    """Functions at module level or in (nested) classes, by qualified name: the swap units."""
    found = {}

    def visit(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = node
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def _defined_units(tree, begin, end) -> list[str]:
    return [name for name, node in units_of(tree).items() if begin < node.lineno < end]


def _enclosing_unit(tree, begin, where) -> list[str]:
    for name, node in units_of(tree).items():
        if node.lineno < begin <= node.end_lineno:
            return [name]
    raise MarkerError(f"{where}: a block of statements must sit inside a function "
                      "(module-level code runs at import, and the package must import)")


def unit_source(text: str, qualname: str) -> tuple[str, int]:
    """The source of one unit (decorators included, dedented) and its first line number."""
    node = units_of(ast.parse(text)).get(qualname)
    if node is None:
        raise KeyError(f"no function {qualname} in this source")
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = text.splitlines()[first - 1: node.end_lineno]
    return textwrap.dedent("\n".join(lines)) + "\n", first
