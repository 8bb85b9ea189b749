"""One graded run: the graded tests, in a pytest subprocess, against a submission's tinyunet.

The grader's own graded tests and plugin (``graded/``, ``plugin.py``) are copied into a fresh
folder; the subprocess runs there with ``PYTHONPATH`` = that folder, then the submission, and
its working directory in the submission, so ``import tinyunet`` finds the submission's code
while the tests and the rules are the grader's (a student cannot edit them on the autograder).
A subprocess, because the grader is itself a ``tinyunet`` and two cannot share one Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .tasks import GRADED, graded_tests

PLUGIN = Path(__file__).with_name("plugin.py")
PLUGIN_NAME = "tinyunet_course_plugin"
SLACK = 60.0  # seconds past the sum of the budgets before the whole run is killed


@dataclass
class TestResult:
    nodeid: str
    task: str
    points: float
    passed: bool
    seconds: float
    message: str = ""

    @property
    def name(self) -> str:
        return self.nodeid.split("::", 1)[-1]


@dataclass
class Session:
    tests: list[TestResult] = field(default_factory=list)
    collect_errors: dict[str, str] = field(default_factory=dict)  # test file -> message
    tinyunet: str | None = None        # where the run imported tinyunet from
    import_error: str | None = None
    killed: bool = False
    log: str = ""                      # pytest's own output

    def of(self, task_id: str) -> list[TestResult]:
        return [t for t in self.tests if t.task == task_id]


def run(submission: Path, tasks: list[str], *, seed: int, budgets: dict[str, float],
        plans: dict | None = None, progress: bool = True, label: str = "grading",
        tracebacks: bool = False, graded: Path = GRADED) -> Session:
    """Run the graded tests of ``tasks`` against ``submission`` (a folder holding tinyunet/).

    Only the plugin it is given runs (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``): no installed plugin
    can change a graded run, and none costs start-up time. ``tracebacks`` keeps pytest's short
    tracebacks in ``Session.log`` (the report itself needs one line per failure). ``graded``:
    the folder of graded tests (the grader's own)."""
    submission = Path(submission).resolve()
    with tempfile.TemporaryDirectory(prefix="tinyunet-grade-") as tmp:
        folder = Path(tmp)
        files = {f for t in tasks for f, _, _ in graded_tests(graded).get(t, [])}  # what runs
        for file in Path(graded).glob("*.py"):
            if file.name in files or not file.name.startswith(("test_", "__init__")):
                shutil.copy(file, folder / file.name)
        shutil.copy(PLUGIN, folder / f"{PLUGIN_NAME}.py")
        (folder / "pytest.ini").write_text("[pytest]\npython_files = test_*.py\n")
        results = folder / "results.jsonl"
        config = folder / "config.json"
        config.write_text(json.dumps({"seed": seed, "tasks": tasks, "budgets": budgets,
                                      "plans": plans or {}, "results": str(results),
                                      "run_dir": str(folder)}))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYUNET_KERNELS")}
        env["PYTHONPATH"] = os.pathsep.join([str(folder), str(submission)])
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        command = [sys.executable, "-m", "pytest", str(folder), "-p", PLUGIN_NAME,
                   "--course-config", str(config), "--import-mode=importlib", "-q",
                   "-p", "no:cacheprovider", "--no-header", "-rN", "--strict-markers",
                   "--tb=short" if tracebacks else "--tb=no"]
        limit = sum(budgets.get(t, 60.0) for t in tasks) + SLACK
        with open(folder / "pytest.log", "w") as log:
            process = subprocess.Popen(command, cwd=submission, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
            session = _follow(process, results, limit, progress, label)
        session.log = (folder / "pytest.log").read_text()
    if session.tinyunet and Path(session.tinyunet) != submission / "tinyunet":
        raise RuntimeError(f"the graded run imported tinyunet from {session.tinyunet}, not from "
                           f"the submission {submission}: is an installed copy shadowing it?")
    return session


def _follow(process, results: Path, limit: float, progress: bool, label: str) -> Session:
    """Wait for the run, reading its results as they come (a progress bar); kill it at
    ``limit`` seconds."""
    session, seen, start = Session(), 0, time.monotonic()
    with tqdm(desc=label, unit="test", disable=not progress, leave=False) as bar:
        while True:
            done = process.poll() is not None
            if results.exists():
                lines = results.read_text().split("\n")[:-1]  # whole lines only
                for line in lines[seen:]:
                    _read(json.loads(line), session, bar)
                seen = len(lines)
            if done:
                break
            if time.monotonic() - start > limit:
                process.kill()
                process.wait()
                session.killed = True
                break
            time.sleep(0.1)
    return session


def _read(record: dict, session: Session, bar) -> None:
    if "collected" in record:
        bar.reset(total=record["collected"])
    elif "tinyunet" in record:
        session.tinyunet = record["tinyunet"]
    elif "import_error" in record:
        session.import_error = record["import_error"]
    elif "collect_error" in record:
        session.collect_errors[Path(record["collect_error"]).name] = record["message"]
    else:
        session.tests.append(TestResult(record["nodeid"], record["task"], record["points"],
                                        record["passed"], record["seconds"], record["message"]))
        bar.update()
