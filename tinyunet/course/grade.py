"""Grading a submission: per task, with partial credit, and the reference where a prerequisite
fails.

1. Every graded test of the assigned tasks runs against the submission (``session.run``),
   from one seed the grader picks (so the inputs are fresh every run; ``seed=`` replays one).
   A task scores the points of the tests it passes.
2. A task that lost points while a task it ``requires`` also lost points (or was not graded in
   this run, as an earlier stage of a release build) runs a second time with the reference
   version of those prerequisites swapped in, function by function: its score is the better of
   the two, and the report says "graded with the reference Task 1.2". One early bug costs the
   points of its own task, not the course.

Where the reference comes from: the grader's own source, when it carries the solution markers,
i.e. the instructor's tinyunet installed in the grading environment (as on Gradescope, where
``run_autograder`` calls this grader on ``/autograder/submission``), or an explicit
``reference=`` folder (``TINYUNET_COURSE_REFERENCE``). A student repository carries no
solutions, so a local ``grade`` runs step 1 only and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from . import session as sessions
from .markers import scan, unit_source
from .session import Session, TestResult
from .tasks import TASKS, Task, graded_points, graded_tests, released, task

MANIFEST = "course.json"
HERE = Path(__file__).resolve().parents[2]  # the repository (or site-packages) holding tinyunet/


def shown(x: float) -> str:
    """2.333333 -> "2.33": a partial score as a reader wants it."""
    return f"{round(x, 2):g}"


@dataclass
class TaskGrade:
    task: Task
    max_score: float
    tests: list[TestResult]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tests if t.passed), 6)


@dataclass
class Report:
    grades: list[TaskGrade]
    seed: int
    submission: Path
    reference: Path | None
    notes: list[str] = field(default_factory=list)
    log: str = ""  # pytest's output of the first run (tracebacks when asked for)

    @property
    def score(self) -> float:
        return round(sum(g.score for g in self.grades), 6)

    @property
    def max_score(self) -> float:
        return sum(g.max_score for g in self.grades)

    def by_task(self) -> dict[str, TaskGrade]:
        return {g.task.id: g for g in self.grades}

    def table(self) -> str:
        width = max(len(g.task.title) for g in self.grades)
        lines = [f"{'task':<5} {'':<{width}} {'score':>9} {'time':>8}"]
        for g in self.grades:
            score = f"{shown(g.score)}/{shown(g.max_score)}"
            lines.append(f"{g.task.id:<5} {g.task.title:<{width}} {score:>9} {g.seconds:>7.1f}s")
            lines += [f"{'':<5} - {note}" for note in g.notes]
        total = f"{shown(self.score)}/{shown(self.max_score)}"
        lines.append(f"{'':<5} {'total':<{width}} {total:>9}")
        return "\n".join(lines + [""] + self.notes)


def grade(submission=".", *, tasks=None, release=None, reference="auto", seed=None,
          budgets=None, progress=True, tracebacks=False) -> Report:
    """Grade the tinyunet in ``submission``; see the module docstring.

    ``tasks``: task ids to grade (default: the build's manifest, ``course.json``, else all);
    ``release``: grade the tasks of that stage; ``reference``: "auto", a folder, or None;
    ``budgets``: seconds per task, overriding the tasks' own; ``tracebacks``: keep pytest's
    tracebacks of the first run in ``Report.log``.
    """
    submission = Path(submission).resolve()
    if not (submission / "tinyunet" / "__init__.py").is_file():
        raise FileNotFoundError(f"{submission} holds no tinyunet/ package to grade")
    if importlib.util.find_spec("pytest") is None:
        raise RuntimeError("grading runs the graded tests with pytest: pip install pytest")
    ids = assigned(submission, tasks, release)
    reference = find_reference(reference)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    budgets = {t.id: float(t.budget) for t in TASKS} | dict(budgets or {})
    worth = graded_points()
    first = sessions.run(submission, ids, seed=seed, budgets=budgets, progress=progress,
                         tracebacks=tracebacks)
    grades = {t: _task_grade(t, first, worth, budgets) for t in ids}
    reruns = {}
    for t in ids:
        failed = [p for p in task(t).requires
                  if p not in grades or grades[p].score < grades[p].max_score]
        if grades[t].score < grades[t].max_score and failed:
            reruns[t] = failed
    notes = [f"seed {seed}: the inputs were drawn from it (replay with --seed {seed})"]
    if reruns and reference is not None:
        plans = {t: {"swaps": swaps(failed, reference)} for t, failed in reruns.items()}
        second = sessions.run(submission, list(reruns), seed=seed, budgets=budgets, plans=plans,
                              progress=progress, label="with the reference")
        for t, failed in reruns.items():
            names = ", ".join(f"Task {p}" for p in failed)
            other = _task_grade(t, second, worth, budgets)
            if other.score > grades[t].score:
                other.notes.insert(0, f"graded with the reference {names} (as submitted: "
                                      f"{shown(grades[t].score)}/{shown(other.max_score)})")
                grades[t] = other
            else:
                grades[t].notes.append(f"with the reference {names} it scores "
                                       f"{shown(other.score)}: the points it loses are its own")
    elif reruns:
        for t, failed in reruns.items():
            names = ", ".join(f"Task {p}" for p in failed)
            grades[t].notes.append(f"it builds on {names} (not passed, or not graded in this "
                                   "run); no reference is installed here, so it ran on yours "
                                   "(the course's autograder grades it with the reference)")
    if first.import_error:
        notes.append(f"the submission's tinyunet does not import: {first.import_error}")
    return Report([grades[t] for t in ids], seed, submission, reference, notes, first.log)


def assigned(submission: Path, tasks=None, release=None) -> list[str]:
    if tasks:
        return [task(t).id for t in tasks]
    if release is not None:
        return [t.id for t in released(int(release))]
    manifest = submission / MANIFEST
    if manifest.is_file():
        return [task(t).id for t in json.loads(manifest.read_text())["tasks"]]
    return [t.id for t in TASKS]


def find_reference(reference="auto") -> Path | None:
    """The folder holding the instructor's tinyunet (with its solution markers), or None."""
    if reference is None or reference == "none":
        return None
    if reference == "auto":
        reference = os.environ.get("TINYUNET_COURSE_REFERENCE") or HERE
        return Path(reference) if scan(Path(reference)) else None
    if not scan(Path(reference)):
        raise ValueError(f"reference {reference}: no solution markers under {reference}/tinyunet")
    return Path(reference)


def swaps(task_ids, regions_from: Path, source_from: Path | None = None) -> list[dict]:
    """The functions that hold ``task_ids``' blocks (found in ``regions_from``), with their
    source taken from ``source_from`` (default the same tree): what the plugin swaps in."""
    source_from = Path(source_from or regions_from)
    found, seen = [], set()
    for path, regions in scan(regions_from).items():
        text = (source_from / path).read_text()
        for region in regions:
            for unit in region.units if region.task in task_ids else ():
                if (region.module, unit) not in seen:
                    seen.add((region.module, unit))
                    source, line = unit_source(text, unit)
                    found.append({"module": region.module, "qualname": unit, "source": source,
                                  "filename": str(source_from / path), "lineno": line})
    return found


def _task_grade(task_id: str, run: Session, worth: dict, budgets: dict) -> TaskGrade:
    tests = run.of(task_id)
    grade = TaskGrade(task(task_id), worth.get(task_id, 0.0), tests,
                      sum(t.seconds for t in tests))
    files = {file for file, _, _ in graded_tests().get(task_id, [])}
    for file in sorted(files & set(run.collect_errors)):
        grade.notes.append(f"{file} could not be collected: {run.collect_errors[file]}")
    if any("TaskTimeout" in t.message for t in tests):
        grade.notes.append(f"ran past its time budget of {budgets[task_id]:g} s")
    reported = {t.name.split("[")[0] for t in tests}
    if run.killed and any(name not in reported for _, name, _ in graded_tests()[task_id]):
        grade.notes.append("the grading run was stopped, past the sum of the budgets, before "
                           "all of this task's tests reported")
    return grade
