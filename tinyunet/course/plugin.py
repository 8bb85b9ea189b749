"""The graded run's pytest plugin: tasks and points, fresh inputs, time budgets, swaps, results.

Standalone on purpose (the standard library, pytest and NumPy; never tinyunet at module level):
the grader copies this file beside the graded tests and loads it with ``-p``, so the tree under
test supplies ``tinyunet`` and the grader supplies the rules. One JSON file configures a run::

    {"seed": 1234, "tasks": ["1.1", ...], "budgets": {"1.1": 30, ...},
     "plans": {"2.3": {"swaps": [{"module", "qualname", "source", "filename", "lineno"}]}},
     "results": "/tmp/.../results.jsonl", "run_dir": "/tmp/..."}

* ``@pytest.mark.task("2.1", points=5)`` puts a test in a task; a parametrized test's points
  are shared equally among its cases. A graded test without the mark is an error.
* ``rng`` is a NumPy generator seeded from the run's seed and the test's id: every run draws
  fresh inputs, and ``--seed`` replays one.
* Each task has a time budget: the call that runs past it is interrupted (SIGALRM), and the
  task's remaining tests fail at once.
* A *swap* replaces one function of the tree under test by another version of it (the
  reference, or a stub), for the tests of one task only: the grader's fallback when an earlier
  task fails. The function is compiled into the module's own namespace and rebound wherever
  the old one was bound (a class, the module, its re-exports), then put back.
* One JSON line per finished test goes to ``results`` as it happens, so a run that is killed
  still reports what it did.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import json
import signal
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest


class TaskTimeout(BaseException):
    """A task ran past its time budget (a BaseException: ``except Exception`` cannot eat it)."""


class _Run:
    def __init__(self, config: dict):
        self.seed = int(config.get("seed", 0))
        self.tasks = config.get("tasks")
        self.budgets = {k: float(v) for k, v in config.get("budgets", {}).items()}
        self.plans = config.get("plans", {})
        self.run_dir = config.get("run_dir")
        self.spent: dict[str, float] = {}
        self.points: dict[str, float] = {}
        self.task: dict[str, str] = {}
        self.outcome: dict[str, dict] = {}
        path = config.get("results")
        self.out = open(path, "a") if path else None  # noqa: SIM115  (open for the session)

    def write(self, record: dict) -> None:
        if self.out is not None:
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()


_RUN = _Run({})


def task_of(item) -> str | None:
    mark = item.get_closest_marker("task")
    return None if mark is None else str(mark.args[0])


# ----- configuration and collection ---------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--course-config", default=None, help="the grader's JSON run configuration")


def pytest_configure(config):
    global _RUN
    config.addinivalue_line("markers", "task(id, points=1): the graded task a test belongs to")
    path = config.getoption("--course-config")
    _RUN = _Run(json.loads(Path(path).read_text()) if path else {})


def pytest_sessionstart(session):
    try:
        import tinyunet

        _RUN.write({"tinyunet": str(Path(tinyunet.__file__).resolve().parent)})
    except BaseException as err:  # noqa: BLE001  (a submission that does not import still grades)
        _RUN.write({"import_error": f"{type(err).__name__}: {err}"})


def pytest_collection_modifyitems(session, config, items):
    order = {t: i for i, t in enumerate(_RUN.tasks or [])}
    kept, dropped, cases = [], [], {}
    for item in items:
        task = task_of(item)
        if task is None:
            raise pytest.UsageError(f"{item.nodeid}: a graded test needs @pytest.mark.task(...)")
        if _RUN.tasks is not None and task not in order:
            dropped.append(item)
            continue
        kept.append(item)
        key = (str(item.path), item.originalname)
        cases[key] = cases.get(key, 0) + 1
    for item in kept:
        points = float(item.get_closest_marker("task").kwargs.get("points", 1))
        _RUN.points[item.nodeid] = points / cases[(str(item.path), item.originalname)]
        _RUN.task[item.nodeid] = task_of(item)
    kept.sort(key=lambda item: order.get(task_of(item), 0))  # a task's tests run together
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
    _RUN.write({"collected": len(kept)})


def pytest_collectreport(report):
    if report.failed:
        _RUN.write({"collect_error": report.nodeid, "message": _message(report)})


@pytest.fixture
def rng(request):
    """Fresh inputs every run: seeded by the run's seed and this test's id."""
    return np.random.default_rng([_RUN.seed, zlib.crc32(request.node.nodeid.encode())])


# ----- one test: swaps around it, the budget inside it, its result after it --------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    plan = _RUN.plans.get(task_of(item), {})
    undo = []
    try:
        for swap in plan.get("swaps", ()):
            undo += install(swap, _RUN.run_dir)
        return (yield)
    finally:
        for owner, name, old in reversed(undo):
            setattr(owner, name, old)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    task = task_of(item)
    budget = _RUN.budgets.get(task)
    if budget is not None and _RUN.spent.get(task, 0.0) >= budget:
        raise TaskTimeout(f"Task {task}'s time budget of {budget:g} s was spent before this test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    task = task_of(item)
    budget = _RUN.budgets.get(task)
    if budget is None or not hasattr(signal, "setitimer"):  # no SIGALRM (Windows): the grader's
        return (yield)                                     # own limit on the whole run remains
    left = max(budget - _RUN.spent.get(task, 0.0), 1e-3)

    def interrupt(signum, frame):
        raise TaskTimeout(f"Task {task} ran past its time budget of {budget:g} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, left)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_runtest_logreport(report):
    task = _RUN.task.get(report.nodeid)
    if task is None:
        return
    _RUN.spent[task] = _RUN.spent.get(task, 0.0) + report.duration
    record = _RUN.outcome.setdefault(report.nodeid, {
        "nodeid": report.nodeid, "task": task, "points": _RUN.points.get(report.nodeid, 0.0),
        "passed": True, "seconds": 0.0, "message": ""})
    record["seconds"] += report.duration
    if report.failed or (report.when == "call" and not report.passed):
        record["passed"] = False
        record["message"] = record["message"] or _message(report)
    if report.when == "teardown":
        _RUN.write(_RUN.outcome.pop(report.nodeid))


def _message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None:
        return crash.message.strip()[:2000]
    return str(getattr(report, "longrepr", "") or "failed").strip().splitlines()[-1][:2000]


# ----- swaps ------------------------------------------------------------------------------------
_COMPILED: dict = {}   # (module, qualname, source) -> code: each swap compiles once per run
_BOUND: dict = {}      # (id(old), modules seen) -> where the old function is bound


def install(swap: dict, run_dir: str | None = None) -> list[tuple]:
    """Compile ``swap["source"]`` (one function, decorators included) into its module's namespace
    and rebind it in place of the old one; returns the ``(owner, name, old)`` triples to undo."""
    module = importlib.import_module(swap["module"])
    *owners, name = swap["qualname"].split(".")
    owner = module
    for part in owners:
        owner = getattr(owner, part)
    key = (swap["module"], swap["qualname"], swap["source"])
    if key not in _COMPILED:
        tree = ast.parse(swap["source"])
        ast.increment_lineno(tree, swap.get("lineno", 1) - 1)  # tracebacks show the real lines
        _COMPILED[key] = compile(tree, swap.get("filename", "<swap>"), "exec",
                                 flags=__future__.annotations.compiler_flag, dont_inherit=True)
    scope: dict = {}
    exec(_COMPILED[key], module.__dict__, scope)  # noqa: S102  (the grader's own sources)
    new = scope[name]
    if owner is not module:  # a method: every user of the class sees the new one
        old = owner.__dict__[name]
        setattr(owner, name, new)
        return [(owner, name, old)]
    old = module.__dict__[name]
    undo = []
    for other, alias in _bindings(old, run_dir):  # the module, and all who imported the name
        setattr(other, alias, new)
        undo.append((other, alias, old))
    return undo


def _bindings(old, run_dir) -> list[tuple]:
    """Every (module, name) bound to ``old``, in tinyunet and in the graded tests."""
    modules = [m for m in list(sys.modules.values()) if m is not None and _ours(m, run_dir)]
    key = (id(old), len(modules))
    if key not in _BOUND:
        _BOUND[key] = [(m, alias) for m in modules for alias, value in list(vars(m).items())
                       if value is old]
    return _BOUND[key]


def _ours(module, run_dir) -> bool:
    name = getattr(module, "__name__", "") or ""
    if name == "tinyunet" or name.startswith("tinyunet."):
        return True
    where = getattr(module, "__file__", None) or ""
    return bool(run_dir) and where.startswith(str(run_dir))
