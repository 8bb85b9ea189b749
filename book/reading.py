"""The reading view: a source file as side-by-side sections, the prose on the left, the code on
the right, each comment or docstring level with the lines it explains.

Why a small generator of our own (on pygments and markdown) rather than a maintained one:
pycco and docco put *comments* beside code but leave docstrings inside the code column, and
tinyunet keeps its formulas in docstrings (``Conv2d.backward``'s adjoint, the kernel's sum);
Sphinx's viewcode shows code without the prose beside it. Splitting a file is a few dozen lines
over ``ast`` and ``tokenize``, and owning them lets the pages carry what the book needs: an
anchor on every line, an anchor for each range a chapter links to, and links back to those
chapters.

A *section* starts at a run of full-line comments or at a docstring (the module's, a class's,
a function's) and runs to the next one. Its prose is the comment text or the docstring,
rendered as markdown (reST's ``literal`` and ``::`` blocks become code); its code is the lines
that follow, with the docstring itself left out of the code column (it is on the left).
"""

from __future__ import annotations

import ast
import html
import inspect
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import markdown
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer


@dataclass
class Section:
    prose: str                    # markdown
    first: int                    # first code line (1-based)
    lines: list[int] = field(default_factory=list)  # the code lines shown on the right


def docstring_spans(tree: ast.Module) -> dict[int, tuple[int, str, int]]:
    """{first line: (last line, cleaned text, first line of its def or class)} of every
    module, class and function docstring."""
    spans = {}
    for node in [tree, *ast.walk(tree)]:
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            expr = body[0]
            owner = expr.lineno if isinstance(node, ast.Module) else min(
                [node.lineno] + [d.lineno for d in node.decorator_list])
            spans[expr.lineno] = (expr.end_lineno, inspect.cleandoc(expr.value.value), owner)
    return spans


def comment_lines(source: str) -> dict[int, str]:
    """{line: text} for every line that holds a comment and nothing else."""
    found = {}
    code_lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            found[tok.start[0]] = tok.string
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    found = {n: re.sub(r"^#\s?", "", text) for n, text in found.items() if n not in code_lines}
    # a divider, "# ----- the two Functions -----", becomes a heading
    return {n: _escape_tags(re.sub(r"^-{3,}\s*(.*?)\s*-{3,}$", r"### \1", text))
            for n, text in found.items()}


def sections(source: str) -> list[Section]:
    """Split ``source`` into prose + code sections (see the module docstring)."""
    tree = ast.parse(source)
    docs = docstring_spans(tree)
    comments = comment_lines(source)
    n_lines = len(source.splitlines())
    out: list[Section] = []
    current = Section("", 1)
    line = 1
    while line <= n_lines:
        if line in docs:
            end, text, owner = docs[line]
            # a docstring belongs with its def/class line(s) just above it: move them across
            header = [n for n in current.lines if n >= owner]
            current.lines = [n for n in current.lines if n < owner]
            if current.lines or current.prose:
                out.append(current)
            current = Section(rst_to_markdown(text), header[0] if header else line, header)
            line = end + 1
            continue
        if line in comments:
            block = []
            while line in comments:
                block.append(comments[line])
                line += 1
            if current.lines or current.prose:
                if current.lines:
                    out.append(current)
                    current = Section("", line)
                current.prose += ("\n\n" if current.prose else "") + "\n".join(block)
            else:
                current = Section("\n".join(block), line)
            continue
        current.lines.append(line)
        line += 1
    out.append(current)
    for s in out:
        if s.lines:
            s.first = s.lines[0]
    return [s for s in out if s.lines or s.prose]


def rst_to_markdown(text: str) -> str:
    """``literal`` -> `literal`; a paragraph ending in ``::`` introduces an indented code block
    (markdown needs it indented four spaces past the text, with a blank line before)."""
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    out, in_block, in_doctest = [], False, False
    for raw in text.splitlines():
        if in_block and raw.strip() and not raw.startswith(" "):
            in_block = False
        if in_doctest and not raw.strip():
            out += ["```", ""]
            in_doctest = False
        if in_block or in_doctest:
            if in_block and raw.strip() and not raw.startswith("    "):
                raw = "    " + raw  # markdown's code block wants four spaces
            out.append(raw if raw.strip() else "")
            continue
        if raw.startswith(">>>"):  # a doctest: shown as code, output included
            out += ["", "```python", raw]
            in_doctest = True
            continue
        if raw.rstrip().endswith("::"):
            out += [raw.rstrip()[:-1], ""]
            in_block = True
            continue
        out.append(_escape_tags(raw))
    if in_doctest:
        out.append("```")
    return "\n".join(out)


def _escape_tags(line: str) -> str:
    """``<`` outside backticks as ``&lt;``: prose like <conv2d(x), y> is math, not HTML."""
    parts = re.split(r"(`[^`]*`)", line)
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)


def resolve(source: str, name: str) -> tuple[int, int]:
    """Lines (first, last) of the class, function or method ``name`` ("Conv2d.backward")."""
    tree = ast.parse(source)
    scope: list = tree.body
    node = None
    for part in name.split("."):
        node = next((n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef,
                                                        ast.AsyncFunctionDef, ast.Assign))
                     and _name_of(n) == part), None)
        if node is None:
            raise KeyError(name)
        scope = getattr(node, "body", [])
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno


def _name_of(node) -> str | None:
    if isinstance(node, ast.Assign):
        target = node.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    return node.name


_MD = dict(extensions=["fenced_code", "tables", "sane_lists"])


def render(path: Path, rel: str, source: str, backlinks: dict, page) -> str:
    """One reading page. ``backlinks``: {(first, last): [(chapter title, chapter href)]};
    ``page(title, body, depth)`` wraps the body in the site's template."""
    formatter = HtmlFormatter(nowrap=True)
    code_lines = highlight(source, PythonLexer(), formatter).splitlines()
    anchors = {}
    for (first, last), chapters in backlinks.items():
        anchors.setdefault(first, []).append((first, last, chapters))
    rows = []
    for s in sections(source):
        notes = []
        for line in s.lines:
            for first, last, chapters in anchors.get(line, []):
                links = ", ".join(f'<a href="{href}">{html.escape(t)}</a>' for t, href in chapters)
                notes.append(f'<p class="used">lines {first}–{last} are discussed in {links}</p>')
        prose = markdown.markdown(s.prose, **_MD) if s.prose else ""
        code = []
        for line in s.lines:
            ids = [f"L{line}"] + [f"L{f}-L{la}" for f, la, _ in anchors.get(line, [])]
            extra = "".join(f'<span id="{i}"></span>' for i in ids[1:])
            text = code_lines[line - 1] if line - 1 < len(code_lines) else ""
            code.append(f'<span class="line" id="{ids[0]}" data-line="{line}">{extra}'
                        f'<a class="ln" href="#L{line}">{line}</a>{text}</span>')
        rows.append(f'<tr><td class="prose">{"".join(notes)}{prose}</td>'
                    f'<td class="code"><pre>{"".join(code) or " "}</pre></td></tr>')
    used = sorted({(t, h.split("#")[0]) for chapters in backlinks.values()
                   for t, h in chapters})
    used_html = ("<p class=\"used-in\">Used in: " + ", ".join(
        f'<a href="{h}">{html.escape(t)}</a>' for t, h in used) + "</p>") if used else ""
    depth = rel.count("/") + 1  # code/<rel>.html sits this many folders below the root
    body = (f"<h1><code>{html.escape(rel)}</code></h1>{used_html}"
            f'<table class="reading">{"".join(rows)}</table>')
    return page(rel, body, depth)


def pygments_css() -> str:
    return HtmlFormatter(style="friendly").get_style_defs([".code pre", ".highlight"])
