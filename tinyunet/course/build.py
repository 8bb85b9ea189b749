"""Building a student repository from the library's own source.

``build(OUT)`` copies the package, the book and the packaging files into OUT, with every
marked block of an assigned task replaced by a ``raise`` (``stubs.render``), and writes the
assignment README and ``course.json`` (which tasks ``grade`` grades there). What stays out:

* the fast kernels (``kernels/numba_cpu``, ``kernels/cuda``): they are the instructor's, and
  the student writes the reference loops; ``tinyunet.backend`` falls back to the reference set
  when the numba set is not there;
* ``course/mistakes.py`` (the typical mistakes, written as edits of the solutions), the
  project's own tests and benchmarks.

The blocks of an optional extension (the 3-D kernels, ``extension=3d``) are stubbed with the
task they extend and listed apart in the README; ``tasks.py`` says why they are not shipped
whole.

``release=N`` assigns the tasks of stage N: earlier stages arrive solved (their solutions
carried forward, markers removed), later stages stay stubs and are not graded yet.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import readme
from .markers import scan
from .stubs import render
from .tasks import BY_ID, EXTENSIONS, TASKS, released

SOURCE = Path(__file__).resolve().parents[2]
COPIED = ("tinyunet", "tutorials", "pyproject.toml", ".gitignore")
LEFT_OUT = ("tinyunet/kernels/numba_cpu", "tinyunet/kernels/cuda", "tinyunet/course/mistakes.py")
JUNK = ("__pycache__", ".pyc", ".nbi", ".nbc", ".egg-info")


@dataclass
class Build:
    out: Path
    release: int | None
    graded: list[str]        # the tasks this repository assigns (and grade grades)
    stubbed: list[str]       # every task whose blocks are stubs here (assigned and later)
    files: int               # files written
    blocks: int              # blocks stubbed
    optional: int            # of them, blocks of an optional extension


def build(out, release: int | None = None, source: Path = SOURCE, force: bool = False,
          check_imports: bool = True) -> Build:
    out, source = Path(out), Path(source)
    regions = scan(source)
    if not regions:
        raise ValueError(f"{source}/tinyunet carries no solution markers: a course is built from "
                         "the instructor's source, not from a student repository")
    _check_tasks(regions)
    graded = [t.id for t in released(release)]
    first = min(BY_ID[t].stage for t in graded)
    stubbed = [t.id for t in TASKS if t.stage >= first]
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} exists and is not empty (pass force=True / --force to "
                                  "replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    files = blocks = optional = 0
    for path in _sources(source):
        rel = path.relative_to(source).as_posix()
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in regions:
            text = render(path.read_text(), regions[rel], set(stubbed))
            blocks += sum(r.task in stubbed for r in regions[rel])
            optional += sum(r.task in stubbed and bool(r.extension) for r in regions[rel])
            target.write_text(text)
        else:
            shutil.copy2(path, target)
        files += 1
    result = Build(out, release, graded, stubbed, files, blocks, optional)
    (out / "README.md").write_text(readme.render(result, regions))
    (out / "course.json").write_text(json.dumps(
        {"release": release, "tasks": graded, "stubbed": stubbed}, indent=2) + "\n")
    _check_parses(out)
    if check_imports:
        check_import(out)
    return result


def _sources(source: Path):
    for name in COPIED:
        top = source / name
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            rel = path.relative_to(source).as_posix()
            if path.is_file() and not rel.startswith(LEFT_OUT) and not any(
                    j in rel for j in JUNK):
                yield path


def _check_tasks(regions) -> None:
    marked = {r.task for rs in regions.values() for r in rs if not r.extension}
    extended = {r.task for rs in regions.values() for r in rs if r.extension}
    unknown, unmarked = (marked | extended) - set(BY_ID), set(BY_ID) - marked
    if unknown or unmarked:
        raise ValueError(f"solution markers name unknown tasks {sorted(unknown)}; tasks without "
                         f"a marked block: {sorted(unmarked)}")
    strange = {f"{path}:{r.begin}: extension={r.extension}" for path, rs in regions.items()
               for r in rs if r.extension and r.extension not in EXTENSIONS}
    if strange:
        raise ValueError(f"unknown extensions (tasks.EXTENSIONS has {sorted(EXTENSIONS)}): "
                         f"{sorted(strange)}")


def _check_parses(out: Path) -> None:
    for path in (out / "tinyunet").rglob("*.py"):
        try:
            ast.parse(path.read_text())
        except SyntaxError as err:
            raise RuntimeError(f"generated {path} does not parse: {err}") from None


# not imported by the check: tests the grader runs, plain-PyTorch twins, and the scripts
# ``export --torch`` ships beside an exported model (never imported by tinyunet itself)
NOT_IMPORTED = ("tinyunet.course.graded", "tinyunet.torch_twins", "tinyunet.interop.shipped")


def check_import(out: Path) -> None:
    """Import every module of the generated package (in a fresh Python), or say which fails."""
    code = ("import importlib, pkgutil, tinyunet\n"
            f"SKIP = {NOT_IMPORTED!r}\n"
            "for m in pkgutil.walk_packages(tinyunet.__path__, 'tinyunet.'):\n"
            "    if not m.name.startswith(SKIP) and not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            f"assert tinyunet.__file__.startswith({str(out.resolve())!r}), tinyunet.__file__\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True,
                          env={"PYTHONPATH": str(out.resolve()), **_environment()})
    if done.returncode:
        raise RuntimeError(f"the generated package does not import:\n{done.stderr[-3000:]}")


def _environment() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYUNET_KERNELS")}
