"""Gradescope's autograder results format: written from a grading report, and checked.

The format (https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format")
is one JSON object: an optional total ``score`` (required unless every test has one),
``execution_time`` (seconds), ``output``, ``visibility``, ``stdout_visibility``,
``extra_data``, ``output_format``, ``test_output_format``, ``test_name_format``, and
``tests``: a list of objects with optional ``score``, ``max_score``, ``status`` ("passed" /
"failed"), ``name``, ``name_format``, ``number``, ``output``, ``output_format``, ``tags``,
``visibility``, ``extra_data``; and an optional ``leaderboard`` of ``{name, value, order}``.
One test entry per task here: its score is the task's partial credit.
"""

from __future__ import annotations

import math

VISIBILITY = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "html", "simple_format", "md", "ansi")
TOP = {"score": "number", "execution_time": "number", "output": "str", "visibility": "vis",
       "stdout_visibility": "vis", "extra_data": "dict", "output_format": "fmt",
       "test_output_format": "fmt", "test_name_format": "fmt", "tests": "list",
       "leaderboard": "list"}
TEST = {"score": "number", "max_score": "number", "status": "status", "name": "str",
        "name_format": "fmt", "number": "str", "output": "str", "output_format": "fmt",
        "tags": "tags", "visibility": "vis", "extra_data": "dict"}
BOARD = {"name": "str", "value": "any", "order": "order"}


def results(report) -> dict:
    """The results.json object for a ``grade.Report``: one test entry per task."""
    tests = []
    for g in report.grades:
        lines = [f"{g.task.name}: {_p(g.score)}/{_p(g.max_score)} points ({g.seconds:.1f} s)",
                 f"teaches: {g.task.teaches}", f"read: {g.task.chapter}",
                 f"judged by: {g.task.judged_by}", *(f"note: {n}" for n in g.notes), ""]
        for t in g.tests:
            mark = "PASS" if t.passed else "FAIL"
            earned = t.points if t.passed else 0.0
            line = f"{mark} {t.name} ({_p(earned)}/{_p(t.points)})"
            lines.append(line if t.passed else f"{line}: {t.message}")
        tests.append({"name": g.task.name, "number": g.task.id, "score": g.score,
                      "max_score": g.max_score,
                      "status": "passed" if g.score >= g.max_score else "failed",
                      "output": "\n".join(lines), "visibility": "visible"})
    return {"score": report.score, "execution_time": round(sum(g.seconds for g in report.grades)),
            "output": "\n".join(report.notes), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def _p(x: float) -> str:
    return f"{round(x, 2):g}"


def validate(data) -> list[str]:
    """Everything in ``data`` that breaks the format (an empty list when it is valid)."""
    if not isinstance(data, dict):
        return [f"the results must be a JSON object, got {type(data).__name__}"]
    problems = _fields(data, TOP, "results")
    tests = data.get("tests", [])
    for i, test in enumerate(tests if isinstance(tests, list) else []):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += _fields(test, TEST, where)
        if "score" not in data and "score" not in test:
            problems.append(f"{where} has no score, and there is no total score")
    for i, entry in enumerate(data.get("leaderboard", []) or []):
        if not isinstance(entry, dict) or not {"name", "value"} <= set(entry):
            problems.append(f"leaderboard[{i}] must be an object with a name and a value")
        else:
            problems += _fields(entry, BOARD, f"leaderboard[{i}]")
    if "score" not in data and not tests:
        problems.append("the results need a total score or tests that carry scores")
    return problems


def _fields(obj: dict, spec: dict, where: str) -> list[str]:
    problems = [f"{where}: unknown field {key!r}" for key in obj if key not in spec]
    for key, kind in spec.items():
        if key in obj and not _is(kind, obj[key]):
            problems.append(f"{where}.{key} = {obj[key]!r} is not {_WHAT[kind]}")
    return problems


def _is(kind: str, value) -> bool:
    if kind == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    return {"str": lambda v: isinstance(v, str), "dict": lambda v: isinstance(v, dict),
            "list": lambda v: isinstance(v, list), "any": lambda v: True,
            "vis": lambda v: v in VISIBILITY, "fmt": lambda v: v in FORMATS,
            "status": lambda v: v in ("passed", "failed"),
            "order": lambda v: v in ("asc", "desc"),
            "tags": lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
            }[kind](value)


_WHAT = {"number": "a finite number", "str": "a string", "dict": "an object", "list": "a list",
         "any": "a value", "vis": f"one of {VISIBILITY}", "fmt": f"one of {FORMATS}",
         "status": "'passed' or 'failed'", "order": "'asc' or 'desc'",
         "tags": "a list of strings"}
