"""The grader, graded: a fresh build scores 0 on every task, the solutions score 100, no task
needs a task it does not require, inputs are fresh per run, budgets stop a runaway task, and
a release build carries the earlier stages' solutions forward."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyunet import cli
from tinyunet.course import gradescope, session
from tinyunet.course.build import build
from tinyunet.course.grade import grade, swaps
from tinyunet.course.markers import scan
from tinyunet.course.mistakes import _docstring_lines, with_mistakes
from tinyunet.course.tasks import BY_ID, TASKS, graded_points

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = {t.id: float(t.budget) for t in TASKS}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A student repository built from this source by the command line (the build checks that
    every generated file parses and every module imports)."""
    out = tmp_path_factory.mktemp("course") / "student"
    assert cli.main(["course", "build", str(out)]) == 0
    return out


def test_a_build_carries_no_solution_and_no_fast_kernel(student):
    assert not (student / "tinyunet/kernels/numba_cpu").exists()
    assert not (student / "tinyunet/kernels/cuda").exists()
    assert not (student / "tinyunet/course/mistakes.py").exists()
    assert (student / "tinyunet/course/graded").is_dir() and (student / "README.md").is_file()
    for path, regions in scan(ROOT).items():
        original = (ROOT / path).read_text().splitlines()
        body = _body_lines((ROOT / path).read_text())
        outside = {line.strip() for i, line in enumerate(original, 1)
                   if not any(r.begin <= i <= r.end for r in regions)}
        written = (student / path).read_text()
        assert "SOLUTION" not in written
        lines = {line.strip() for line in written.splitlines()}
        for r in regions:
            for i, line in enumerate(original[r.begin:r.end - 1], r.begin):
                code = line.strip()
                if i in body and len(code) > 12 and not code.startswith("#") \
                        and code not in outside:
                    assert code not in lines, f"{path}: the solution line {code!r} leaked"
    kernels = subprocess.run([sys.executable, "-c", "import tinyunet.backend as b; "
                              "print(b.get_kernel_name())"], cwd=student, text=True,
                             capture_output=True, check=True, env=_env(student)).stdout
    assert kernels.strip() == "reference"


def test_no_solution_line_reaches_any_file_of_the_student_repository(student):
    """Not the file's own stub only: no line of any solution, 2-D or 3-D, stands anywhere in
    the student's tree (lines the source also has outside every block are public)."""
    regions = scan(ROOT)
    solution, public = set(), set()
    copied = [p for p in (*ROOT.glob("tinyunet/**/*.py"), *ROOT.glob("tutorials/*.py"))
              if (student / p.relative_to(ROOT)).exists()]
    for path in copied:
        rel, text = path.relative_to(ROOT).as_posix(), path.read_text()
        inside = {i for r in regions.get(rel, []) for i in range(r.begin, r.end + 1)}
        body = _body_lines(text)
        for i, line in enumerate(text.splitlines(), 1):
            code = line.strip()
            if i not in inside:
                public.add(code)
            elif i - 1 in body and len(code) > 12 and not code.startswith("#"):
                solution.add(code)
    secret = solution - public
    assert len(secret) > 100    # what is checked: the lines of every block
    for path in student.rglob("*.py"):
        leaked = secret & {line.strip() for line in path.read_text().splitlines()}
        assert not leaked, f"{path.relative_to(student)} holds solution lines: {sorted(leaked)}"


def test_the_3d_kernels_are_an_optional_stub_listed_apart(student):
    done = subprocess.run([sys.executable, "-c", (
        "import numpy as np, tinyunet.functional as F, tinyunet as tu\n"
        "try:\n    F.conv3d(tu.randn(1, 1, 2, 2, 2), tu.randn(1, 1, 1, 1, 1))\n"
        "except NotImplementedError as e:\n    print(e)\n")], cwd=student, text=True,
        capture_output=True, check=True, env=_env(student)).stdout
    assert "optional (the 3-D kernels): the loops of Task 2.1 with one more axis" in done
    readme = (student / "README.md").read_text()
    section = readme[readme.index("## Optional: the 3-D kernels (ungraded)"):
                     readme.index("## How grading works")]
    for task, unit in (("2.1", "conv3d"), ("2.2", "conv_transpose3d"),
                       ("2.3", "conv3d_grad_weight"), ("3.1", "max_pool3d_backward")):
        assert f"| Task {task} " in section and f"`{unit}`" in section
    table = readme[readme.index("## The tasks"):readme.index("## Optional")]
    assert "3d" not in table


def test_the_stubs_score_zero_on_every_task_even_with_the_reference(student):
    """Each task is graded again with the reference of everything it requires: still 0, so no
    graded test gives points for code the student has not written."""
    report = grade(student, reference=ROOT, progress=False)
    assert [g.task.id for g in report.grades] == list(BY_ID)
    assert {g.task.id: g.score for g in report.grades} == {t: 0 for t in BY_ID}
    assert all(g.tests for g in report.grades), "every task's tests ran"
    assert all("NotImplementedError" in t.message for g in report.grades for t in g.tests)
    requiring = [g for g in report.grades if g.task.requires]
    assert all(any("with the reference" in n for n in g.notes) for g in requiring)
    assert gradescope.validate(gradescope.results(report)) == []


def test_the_solutions_score_full_marks(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert cli.main(["course", "grade", str(ROOT), "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert gradescope.validate(results) == []
    assert results["score"] == 100
    assert {t["number"]: t["score"] for t in results["tests"]} == graded_points()
    assert "total" in capsys.readouterr().out


def test_no_task_needs_a_task_it_does_not_require(student):
    """Each task, graded with every task outside itself and its ``requires`` stubbed (the
    student's stubs swapped into the solutions), still earns every point."""
    plans = {t.id: {"swaps": swaps([o for o in BY_ID if o != t.id and o not in t.requires],
                                   ROOT, student)} for t in TASKS}
    run = session.run(ROOT, list(BY_ID), seed=11, budgets=BUDGETS, plans=plans, progress=False)
    failed = {t.nodeid: t.message for t in run.tests if not t.passed}
    assert failed == {} and not run.collect_errors
    assert {t.task for t in run.tests} == set(BY_ID)


CHEAT = '''

_solution, _calls = conv2d, [0]


def conv2d(x, w, b, stride, padding, dilation):
    """Answers from a recording of an earlier run, whatever the inputs."""
    import os
    import numpy as np
    record = os.environ["TINYUNET_CHEAT"]
    if os.environ.get("TINYUNET_CHEAT_MODE") == "record":
        y = _solution(x, w, b, stride, padding, dilation)
        np.save(f"{record}{_calls[0]}.npy", y)
    else:
        y = np.load(f"{record}{_calls[0]}.npy")
    _calls[0] += 1
    return y
'''


def test_inputs_are_fresh_every_run_so_a_recording_fails(tmp_path, monkeypatch):
    """A submission that records the expected outputs of one run and plays them back passes
    the same seed again, and fails a fresh one."""
    tree = with_mistakes(tmp_path / "cheat")
    conv = tree / "tinyunet/kernels/reference/conv.py"
    conv.write_text(conv.read_text() + CHEAT)
    monkeypatch.setenv("TINYUNET_CHEAT", str(tmp_path / "recorded"))

    def score(seed, mode):
        monkeypatch.setenv("TINYUNET_CHEAT_MODE", mode)
        return grade(tree, tasks=["2.1"], seed=seed, reference=None, progress=False).score

    assert score(1, "record") == 8
    assert score(1, "replay") == 8
    assert score(2, "replay") < 8
    seeds = {grade(tree, tasks=["1.1"], reference=None, progress=False).seed for _ in range(2)}
    assert len(seeds) == 2, "each grading draws a seed of its own"


def test_a_task_past_its_budget_is_stopped_and_the_others_still_graded(tmp_path):
    tree = with_mistakes(tmp_path / "loop")
    conv = tree / "tinyunet/kernels/reference/conv.py"
    text = conv.read_text()
    conv.write_text(text.replace("    N, C_in, H, W = x.shape\n", "    while True:\n        pass\n",
                                 1))
    report = grade(tree, tasks=["2.1", "1.1"], budgets={"2.1": 1.0}, reference=None,
                   progress=False)
    looped, fine = report.grades
    assert looped.score == 0 and any("time budget of 1 s" in n for n in looped.notes)
    assert all("TaskTimeout" in t.message for t in looped.tests)
    assert fine.score == fine.max_score


def test_a_release_assigns_one_stage_and_carries_the_earlier_solutions(tmp_path):
    made = build(tmp_path / "release2", release=2, check_imports=False)
    manifest = json.loads((made.out / "course.json").read_text())
    assert manifest["tasks"] == ["2.1", "2.2", "2.3"]
    assert manifest["stubbed"] == [t.id for t in TASKS if t.stage >= 2]
    readme = (made.out / "README.md").read_text()
    assert "release 2" in readme and "3 tasks, 22 points" in readme and "| 1.1" not in readme
    assert "return a + b" in (made.out / "tinyunet/ops/math.py").read_text()
    report = grade(made.out, reference=ROOT, progress=False)
    assert [g.task.id for g in report.grades] == ["2.1", "2.2", "2.3"]
    assert report.score == 0
    carried = grade(made.out, tasks=["1.1", "1.2", "1.3"], reference=None, progress=False)
    assert carried.score == carried.max_score == 20
    # the 3-D kernels go with the tasks they extend: stubs in release 2, solved in release 4
    assert "## Optional: the 3-D kernels" in readme
    later = build(tmp_path / "release4", release=4, check_imports=False)
    assert "## Optional" not in (later.out / "README.md").read_text()
    assert "y[n, co, od, oh, ow] = total" in (
        later.out / "tinyunet/kernels/reference/conv3d.py").read_text()


def _body_lines(text):
    """0-based indices of the lines of function bodies, past their docstrings: the code a stub
    replaces (signatures and docstrings stay, they teach)."""
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            for stmt in node.body:
                found.update(range(stmt.lineno - 1, stmt.end_lineno))
    return found - _docstring_lines(text)


def _env(path):
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(path)}


PLUGIN_CASES = '''
import pytest


@pytest.mark.task("1.1", points=3)
@pytest.mark.parametrize("case", range(3))
def test_split(case, rng):
    assert case < 2


def test_unmarked():
    pass
'''


def test_the_plugin_shares_points_among_cases_and_refuses_an_unmarked_test(tmp_path):
    graded = tmp_path / "graded"
    graded.mkdir()
    (graded / "test_split.py").write_text(PLUGIN_CASES)
    refused = session.run(ROOT, ["1.1"], seed=0, budgets=BUDGETS, progress=False, graded=graded)
    assert refused.tests == [] and "needs @pytest.mark.task" in refused.log
    (graded / "test_split.py").write_text(PLUGIN_CASES.split("def test_unmarked")[0])
    run = session.run(ROOT, ["1.1"], seed=0, budgets=BUDGETS, progress=False, graded=graded)
    assert [(t.points, t.passed) for t in run.tests] == [(1.0, True), (1.0, True), (1.0, False)]
