"""Build the book: execute every chapter, render it and the code it reads, into a static site.

    python -m book.build                      # every chapter in full, into book/_build/
    python -m book.build --fast               # fast mode (TINYUNET_BOOK_FAST=1): seconds each
    python -m book.build --fast --only ch00_engine ch06_upsampling

The chapters are picked up by file name, ``tutorials/chNN_*.py`` in order, so a new chapter is
one new file. Each runs top to bottom in a fresh kernel (``notebook.py``); a chapter that raises
(its closing asserts included) or runs past ``--limit`` seconds stops the build. Links in a
chapter's markdown to ``../tinyunet/PATH.py#Name`` (a class, function or method) become links to
the exact lines of ``Name`` in the reading view (``reading.py``), and each reading page links
back to the chapters that point at it. A link to a name that no longer exists fails the build,
so the chapters cannot drift from the code. Nothing is fetched: the site needs no network.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from pathlib import Path
from string import Template

import markdown
import nbformat

from . import notebook, reading

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TUTORIALS = ROOT / "tutorials"
DEFAULT_OUT = HERE / "_build"
CHAPTER_GLOB = "ch[0-9][0-9]_*.py"
MARKER = ".book-build"  # in every site this builder writes: it may replace that folder

# the files the reading view always shows (the chapters may link to more)
READING = ["tinyunet/tensor.py", "tinyunet/function.py", "tinyunet/autograd.py",
           "tinyunet/ops/conv.py", "tinyunet/kernels/reference/conv.py",
           "tinyunet/kernels/numba_cpu/conv.py", "tinyunet/ops/pool.py",
           "tinyunet/kernels/reference/pool.py", "tinyunet/ops/activation.py",
           "tinyunet/ops/concat.py", "tinyunet/ops/cross_entropy.py", "tinyunet/ops/dice.py",
           "tinyunet/models/unet.py", "tinyunet/models/blocks.py"]

CODE_LINK = re.compile(r"\]\(\.\./(tinyunet/[\w/]+\.py)(?:#([\w.]+))?\)")


class BuildError(RuntimeError):
    """A chapter failed or a link points nowhere."""


def chapters(only=None) -> list[Path]:
    found = sorted(TUTORIALS.glob(CHAPTER_GLOB))
    if only:
        unknown = set(only) - {p.stem for p in found}
        if unknown:
            raise BuildError(f"no such chapter(s) {sorted(unknown)}; the chapters are "
                             f"{[p.stem for p in found]}")
        found = [p for p in found if p.stem in only]
    return found


def page(title: str, body: str, depth: int, nav: str = "") -> str:
    root = "../" * depth
    template = Template((HERE / "templates" / "page.html").read_text())
    return template.substitute(title=html.escape(title), body=body, root=root, nav=nav)


class Links:
    """Chapter -> code links: rewrites them and remembers them for the back-links."""

    def __init__(self):
        self.sources: dict[str, str] = {}
        self.back: dict[str, dict[tuple[int, int], list]] = {}

    def source(self, rel: str) -> str:
        if rel not in self.sources:
            path = ROOT / rel
            if not path.is_file():
                raise BuildError(f"a chapter links to {rel}, which does not exist")
            self.sources[rel] = path.read_text()
        return self.sources[rel]

    def rewriter(self, chapter: str, title: str):
        def rewrite(text: str) -> str:
            def one(m):
                rel, name = m.group(1), m.group(2)
                href = f"code/{rel}.html"
                if name:
                    try:
                        first, last = reading.resolve(self.source(rel), name)
                    except KeyError:
                        raise BuildError(f"{chapter}: links to {rel}#{name}, but {rel} has no "
                                         f"class or function {name!r}") from None
                    href += f"#L{first}-L{last}"
                    self.back.setdefault(rel, {}).setdefault((first, last), []).append(
                        (title, f"{chapter}.html"))
                else:
                    self.source(rel)
                    self.back.setdefault(rel, {})
                return f"]({href})"

            return CODE_LINK.sub(one, text)

        return rewrite


def build(out: Path = DEFAULT_OUT, fast: bool = False, only=None, limit: float = 600.0,
          log=print) -> dict:
    """Build the site into ``out``; return {chapter: seconds it ran}."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():  # never wipe a folder this builder did not make
            raise BuildError(f"{out} exists and is not a book build; choose another --out")
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True)
    (out / MARKER).write_text("built by python -m book.build; replaced by the next build\n")
    (out / "notebooks").mkdir()
    paths = chapters(only)
    executed, seconds = {}, {}
    for path in paths:
        log(f"running {path.name} ({'fast' if fast else 'full'} mode) ...")
        try:
            nb, took = notebook.execute(path, ROOT, fast, limit)
        except notebook.ChapterFailed as error:
            raise BuildError(str(error)) from None
        executed[path.stem], seconds[path.stem] = nb, round(took, 1)
        nbformat.write(nb, out / "notebooks" / f"{path.stem}.ipynb")
        log(f"  {path.stem}: {took:.1f} s")

    titles = {name: notebook.title_of(nb) for name, nb in executed.items()}
    links = Links()
    bodies = {name: notebook.render(nb, name, out / "img", links.rewriter(name, titles[name]))
              for name, nb in executed.items()}
    names = list(executed)
    for i, name in enumerate(names):
        prev = (f'<a href="{names[i - 1]}.html">&larr; {html.escape(titles[names[i - 1]])}</a>'
                if i else "")
        nxt = (f'<a href="{names[i + 1]}.html">{html.escape(titles[names[i + 1]])} &rarr;</a>'
               if i + 1 < len(names) else "")
        nav = f'<div class="prevnext">{prev}<span></span>{nxt}</div>'
        extra = (f'<p class="download">Source: <code>tutorials/{name}.py</code> &middot; '
                 f'<a href="notebooks/{name}.ipynb">executed notebook (.ipynb)</a></p>')
        (out / f"{name}.html").write_text(page(titles[name], extra + bodies[name] + nav, 0, nav))

    files = sorted(set(READING) | set(links.back))
    for rel in files:
        target = out / "code" / f"{rel}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        depth = rel.count("/") + 1
        back = {rng: [(t, "../" * depth + h) for t, h in chs]
                for rng, chs in links.back.get(rel, {}).items()}
        target.write_text(reading.render(ROOT / rel, rel, links.source(rel), back, page))

    _index(out, names, titles, executed, files)
    for asset in ("style.css", "reading.js"):
        shutil.copy(HERE / "templates" / asset, out / asset)
    (out / "pygments.css").write_text(reading.pygments_css())
    return seconds


def _index(out: Path, names, titles, executed, files) -> None:
    items = "".join(
        f'<li><a href="{n}.html">{html.escape(titles[n])}</a><br><span class="summary">'
        f"{_inline(notebook.summary_of(executed[n]))}</span></li>" for n in names)
    code = "".join(f'<li><a href="code/{rel}.html"><code>{rel}</code></a></li>' for rel in files)
    body = ("<h1>tinyunet: the U-Net from the inside</h1>"
            "<p>One chapter per idea of the lesson, in its order. Every chapter runs the "
            "library itself, draws one figure and ends in asserts on the numbers it teaches. "
            "The reading view puts each file's comments and formulas beside the lines that "
            "compute them.</p>"
            f'<h2>Chapters</h2><ol class="chapters" start="0">{items}</ol>'
            f'<h2>The code, side by side</h2><ul class="files">{code}</ul>')
    (out / "index.html").write_text(page("tinyunet book", body, 0))


def _inline(text: str, limit: int = 260) -> str:
    """A chapter's opening paragraph for the index: its first sentences up to ``limit``
    characters, links reduced to their text, `code` kept."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    sentences, out = re.split(r"(?<=[.!?])\s+", text), ""
    for sentence in sentences:
        if out and len(out) + len(sentence) > limit:
            break
        out += (" " if out else "") + sentence
    body = markdown.markdown(out)
    return body.removeprefix("<p>").removesuffix("</p>")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m book.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="site folder (replaced)")
    p.add_argument("--fast", action="store_true", help="fast mode: small training runs")
    p.add_argument("--only", nargs="+", metavar="CHAPTER", help="build only these chapters")
    p.add_argument("--limit", type=float, default=None,
                   help="seconds one chapter may run (default 60 fast, 900 full)")
    args = p.parse_args(argv)
    limit = args.limit or (60.0 if args.fast else 900.0)
    start = time.perf_counter()
    try:
        seconds = build(args.out, args.fast, args.only, limit)
    except BuildError as error:
        print(f"book: {error}", file=sys.stderr)
        return 1
    print(f"book: {len(seconds)} chapters in {time.perf_counter() - start:.0f} s -> "
          f"{args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
