"""Execute a chapter and render it as HTML: jupytext reads the percent-format ``.py``, nbclient
runs it in a fresh kernel, and the cells become a page of our own template.

Why not nbconvert's HTML exporter: its templates load require.js and MathJax from a CDN, and the
book builds and is read with no network; a notebook's cells are few kinds (markdown, code,
stream, image, markdown display, error), each a few lines here.
"""

from __future__ import annotations

import base64
import html
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import jupytext
import markdown
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

_MD = dict(extensions=["fenced_code", "tables", "sane_lists"])
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ChapterFailed(RuntimeError):
    """A chapter raised, or ran past its time limit: the book does not build."""


def execute(path: Path, root: Path, fast: bool, limit: float) -> tuple[nbformat.NotebookNode,
                                                                         float]:
    """Run the chapter at ``path`` top to bottom in a fresh kernel, with the repository
    ``root`` first on its path (the chapters import this checkout's ``tinyunet``). Returns the
    executed notebook and the seconds it took; raises ChapterFailed on an error or when the
    whole chapter takes more than ``limit`` seconds."""
    nb = jupytext.read(path)
    env = {"TINYUNET_BOOK_STATIC": "1", "TINYUNET_BOOK_FAST": "1" if fast else "0",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    deadline = start + limit

    def remaining(cell) -> int:  # each cell gets what is left of the chapter's budget
        return max(1, int(deadline - time.perf_counter()))

    client = NotebookClient(nb, timeout_func=remaining, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    except CellExecutionError as error:
        raise ChapterFailed(f"{path.name}: a cell raised\n{_ANSI.sub('', str(error))}") from None
    except TimeoutError as error:
        raise ChapterFailed(f"{path.name}: ran past its limit of {limit:.0f} s ({error})") \
            from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    if seconds > limit:
        raise ChapterFailed(f"{path.name}: took {seconds:.0f} s, over its limit of {limit:.0f} s")
    return nb, seconds


def title_of(nb) -> str:
    """The chapter's first markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    raise ValueError("a chapter must open with a '# Title' markdown heading")


def summary_of(nb) -> str:
    """The first paragraph after the title: the line the index shows."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            paragraphs = [p for p in re.split(r"\n\s*\n", cell.source)
                          if p.strip() and not p.lstrip().startswith("#")]
            if paragraphs:
                return " ".join(paragraphs[0].split())
    return ""


def render(nb, name: str, images: Path, rewrite: Callable[[str], str]) -> str:
    """The body HTML of an executed notebook. Figures are written to ``images`` as
    ``{name}_{k}.png``; ``rewrite`` turns a markdown cell's links into the site's."""
    formatter = HtmlFormatter()
    parts, k = [], 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(f'<div class="md">{markdown.markdown(rewrite(cell.source), **_MD)}'
                         "</div>")
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        parts.append(f'<div class="cell">{highlight(cell.source, PythonLexer(), formatter)}')
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                parts.append(f'<pre class="out">{html.escape(out["text"])}</pre>')
            elif kind == "error":
                tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
                parts.append(f'<pre class="out error">{html.escape(tb)}</pre>')
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                if "image/png" in data:
                    k += 1
                    file = f"{name}_{k}.png"
                    (images / file).write_bytes(base64.b64decode(data["image/png"]))
                    parts.append(f'<img class="figure" src="img/{file}" alt="figure {k} of '
                                 f'{html.escape(name)}">')
                elif "text/markdown" in data:
                    parts.append(f'<div class="caption">{markdown.markdown(data["text/markdown"])}'
                                 "</div>")
                elif "text/plain" in data:
                    parts.append(f'<pre class="out">{html.escape(data["text/plain"])}</pre>')
        parts.append("</div>")
    return "\n".join(parts)
