"""The assignment README of a student repository: the tasks, their points, how grading works."""

from __future__ import annotations

from .tasks import BY_ID, EXTENSIONS, graded_points

SETUP = """\
## Set up

    python -m venv .venv && . .venv/bin/activate
    pip install -e . pytest

## Grade your work

    python -m tinyunet course grade                # every task of this repository
    python -m tinyunet course grade --task 2.1     # one task
    python -m tinyunet course grade --seed 1234    # replay the inputs of an earlier run

It prints one line per task (points, time, notes) and writes `grades.json` in Gradescope's
autograder format. Find every place a task asks for code with `grep -rn "Task 2.1" tinyunet`.
"""

RULES = """\
## How grading works

- **Points.** Every graded test carries its task and points
  (`@pytest.mark.task("2.1", points=2)`, in `tinyunet/course/graded/`). A task scores the
  points of the tests it passes, so a task that half works earns part of its points.
- **Fresh inputs.** Shapes and values are drawn anew on every run from a seed the grader picks
  (printed under the table; `--seed` replays it). The expected numbers of one run are not the
  next run's.
- **Time budgets.** Each task has a budget (the table above). A test still running when its
  task's budget is spent is stopped, and the task's remaining tests fail.
- **Prerequisites.** Later tasks run on earlier ones: Task 2.3's gradient check runs your
  engine and your conv2d. On the course's autograder a task whose prerequisite fails is
  graded a second time with the instructor's reference version of that prerequisite swapped
  in, and keeps the better score (its report says "graded with the reference Task 1.2").
  Here there is no reference, so it runs on your code: fix the earlier task first.
- **Kernels.** This repository has the reference kernels only, the plain loops you write; the
  fast numba kernels are the instructor's. Task 5.2 trains on the fastest set present, so here
  it trains on your loops: slower than on the autograder, within the same budget.
"""


def render(build, regions) -> str:
    points = graded_points()
    graded = [BY_ID[t] for t in build.graded]
    total = sum(points.get(t.id, 0) for t in graded)
    where = _where(regions)
    title = "# tinyunet coursework" + (f": release {build.release}" if build.release else "")
    intro = (
        "This repository is tinyunet, a deep-learning framework written from scratch in NumPy "
        "to teach the U-Net from the inside, with parts taken out for you to write. Each task "
        "below is a set of `raise NotImplementedError(\"Task ...\")` lines in the library's own "
        "files: replace each with the code it describes (the docstrings above them give the "
        "formulas), until every task earns its points.")
    if build.release:
        intro += (f"\n\nThis is release {build.release}: the tasks of stage {build.release} are "
                  "yours. The stages before it come solved (read them: they are what you build "
                  "on); the stages after it are still stubs, for a later release.")
    rows = ["| task | points | you write | it teaches | read | judged by | budget |",
            "| --- | ---: | --- | --- | --- | --- | ---: |"]
    for t in graded:
        rows.append(f"| {t.id} {t.title} | {points.get(t.id, 0):g} | {where.get(t.id, '')} | "
                    f"{_text(t.teaches)} | `{t.chapter}` | {_text(t.judged_by)} | {t.budget:g} s |")
    tasks = (f"## The tasks: {len(graded)} tasks, {total:g} points\n\n" + "\n".join(rows))
    return "\n\n".join([title, intro, SETUP.rstrip(), tasks, *_extensions(build, regions),
                        RULES.rstrip()]) + "\n"


def _extensions(build, regions) -> list[str]:
    """A section per extension with stubs in this build: what it is, and where to write it."""
    sections = []
    for name, e in EXTENSIONS.items():
        mine = {path: [r for r in rs if r.extension == name and r.task in build.stubbed]
                for path, rs in regions.items()}
        where = _where({path: rs for path, rs in mine.items() if rs}, extensions=True)
        if where:
            rows = ["| beside | you may write |", "| --- | --- |"]
            rows += [f"| Task {task} {BY_ID[task].title} | {where[task]} |"
                     for task in sorted(where, key=list(BY_ID).index)]
            sections.append(f"## Optional: {e.title} (ungraded)\n\n{e.what}\n\n"
                            + "\n".join(rows))
    return sections


def _text(s: str) -> str:
    """Plain text in a Markdown table cell: ``<x, y>`` must not read as an HTML tag."""
    return s.replace("<", "&lt;").replace("|", "\\|")


def _where(regions, extensions: bool = False) -> dict[str, str]:
    """task id -> "`file`: `function`, ..." for the README's table (of the tasks' own blocks,
    or of the extensions' blocks beside them)."""
    found: dict[str, dict[str, list[str]]] = {}
    for path, rs in regions.items():
        for r in rs:
            if bool(r.extension) != extensions:
                continue
            units = found.setdefault(r.task, {}).setdefault(path, [])
            units += [u for u in r.units if u not in units]
    return {task: "; ".join(f"`{path}`: " + ", ".join(f"`{u}`" for u in _short(units))
                            for path, units in files.items())
            for task, files in found.items()}


def _short(units: list[str]) -> list[str]:
    """Methods of one class as ``Class.forward/backward``; ``Add, Sub, ...`` for many classes."""
    classes: dict[str, list[str]] = {}
    for u in units:
        owner, _, name = u.rpartition(".")
        classes.setdefault(owner, []).append(name)
    if len(classes) > 2 and "" not in classes:
        return [", ".join(classes) + " (forward, backward)"]
    return [f"{owner}.{'/'.join(names)}" for owner, names in classes.items() if owner] + \
        classes.get("", [])
