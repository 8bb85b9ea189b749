"""The coursework kit's parts, without running a grading: markers, stubs, tasks and points, the
layering of the graded tests, the in-process swap, Gradescope's format."""

import ast
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from test_layers import import_graph

import tinyunet.autograd
import tinyunet.broadcast
import tinyunet.kernels.reference as ref
from tinyunet.course import gradescope, plugin
from tinyunet.course.build import _check_tasks
from tinyunet.course.markers import MarkerError, parse, scan, unit_source
from tinyunet.course.stubs import render
from tinyunet.course.tasks import BY_ID, TASKS, graded_points, graded_tests, released

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ("ch00_engine", "ch01_classifier_vs_segmenter", "ch02_size_trace",
            "ch03_bottleneck_blur", "ch04_skip_connections", "ch05_training", "ch06_upsampling",
            "ch07_imbalance", "ch08_diffusion", "ch09_variants")


# ----- tasks and points ---------------------------------------------------------------------------
def test_thirteen_tasks_in_five_stages_worth_100_points():
    """The numbers the README's "For instructors" section quotes."""
    points = graded_points()
    assert len(TASKS) == 13 and sorted({t.stage for t in TASKS}) == [1, 2, 3, 4, 5]
    assert set(points) == set(BY_ID) and sum(points.values()) == 100
    assert all(p > 0 for p in points.values())


def test_the_readme_for_instructors_quotes_these_numbers():
    """README's counts; its 0/100 and 100/100 are graded in test_course_grading.py."""
    text = " ".join((ROOT / "README.md").read_text().split())
    section = text[text.index("## For instructors"):text.index("## Development")]
    stages = sorted({t.stage for t in TASKS})
    assert f"{len(TASKS)} tasks in {len(stages)} stages worth {sum(graded_points().values()):g}"\
           f" points" in section
    stage2 = [t.id for t in released(2)]
    assert f"{len(stage2)} tasks, {sum(graded_points()[t] for t in stage2):g} points" in section
    assert "0/100" in section and "100/100" in section


def test_the_target_dice_quoted_is_the_one_graded():
    source = (ROOT / "tinyunet/course/graded/test_5_2_training.py").read_text()
    (target,) = re.findall(r"^TARGET_DICE = ([0-9.]+)$", source, re.MULTILINE)
    assert f"Dice {target}" in BY_ID["5.2"].judged_by


def test_tasks_point_to_the_book_and_back_down_the_ladder():
    order = [t.id for t in TASKS]
    for t in TASKS:
        assert re.fullmatch(rf"tutorials/({'|'.join(CHAPTERS)})\.py", t.chapter), t.chapter
        for r in t.requires:
            assert order.index(r) < order.index(t.id), f"Task {t.id} requires a later Task {r}"
        assert t.budget > 0 and t.title and t.teaches and t.judged_by


def test_every_task_has_solution_blocks_and_graded_tests():
    marked = {r.task for rs in scan(ROOT).values() for r in rs}
    assert marked == set(BY_ID)
    assert set(graded_tests()) == set(BY_ID)


def test_the_graded_tests_of_a_task_import_no_later_task():
    """A task's graded tests import (directly, or through what those modules import) only
    modules holding blocks of that task or earlier ones: the ladder is climbed in order.
    Tensor's own methods (its operators, ``backward``) import the ops and the engine when they
    are called, as in test_layers: those edges are not followed. Whether a task *runs* later
    code is the other half, checked by grading it with every other task stubbed
    (test_course_grading.py)."""
    graph = import_graph()
    tasks_of = {}
    for path, regions in scan(ROOT).items():
        name = path[:-3].replace("/", ".").removesuffix(".__init__")
        tasks_of[name] = {r.task for r in regions}
    order = [t.id for t in TASKS]
    for file in sorted((ROOT / "tinyunet/course/graded").glob("test_*.py")):
        own = {t for t, tests in graded_tests().items() for f, _, _ in tests if f == file.name}
        (task,) = own
        reached, todo = set(), _imports(file, graph)
        while todo:
            module = todo.pop()
            if module not in reached:
                reached.add(module)
                todo |= graph.get(module, set()) if module != "tinyunet.tensor" else set()
        later = {m: sorted(tasks_of[m]) for m in reached if m in tasks_of
                 and min(order.index(t) for t in tasks_of[m]) > order.index(task)}
        assert later == {}, f"{file.name} (Task {task}) reaches modules of later tasks: {later}"


def _imports(file, graph):
    found = set()
    for node in ast.walk(ast.parse(file.read_text())):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                 [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for name in names:
            for alias in getattr(node, "names", []):
                if f"{name}.{alias.name}" in graph:
                    found.add(f"{name}.{alias.name}")
            found |= {name} & set(graph)
    return found


# ----- markers and stubs --------------------------------------------------------------------------
EXAMPLE = '''
def double(x):
    """2 x."""
    # BEGIN SOLUTION task=1.1 hint="add it to itself"
    y = x + x
    return y
    # END SOLUTION


# BEGIN SOLUTION task=1.2
class Twice:
    """Twice a thing."""

    @staticmethod
    def forward(ctx,
                x):
        # the comment above the body goes with it
        return 2 * x

    def backward(ctx, grad):
        return 2 * grad
# END SOLUTION
'''


def test_blocks_name_the_functions_they_write():
    (a, b) = parse(EXAMPLE, "tinyunet/example.py")
    assert (a.task, a.kind, a.units, a.hint) == ("1.1", "statements", ("double",),
                                                 "add it to itself")
    assert (b.task, b.kind, b.units) == ("1.2", "definitions", ("Twice.forward", "Twice.backward"))
    assert unit_source(EXAMPLE, "Twice.forward")[0].startswith("@staticmethod\ndef forward(")


def test_a_stub_keeps_signatures_and_docstrings_and_raises_with_the_task():
    regions = parse(EXAMPLE, "tinyunet/example.py")
    student = render(EXAMPLE, regions, {"1.1", "1.2"})
    namespace = {}
    exec(compile(student, "student", "exec"), namespace)  # it parses and defines everything
    assert "x + x" not in student and "2 * grad" not in student and "SOLUTION" not in student
    assert namespace["Twice"].__doc__ == "Twice a thing." and "forward(ctx," in student
    for call in (lambda: namespace["double"](1), lambda: namespace["Twice"].forward(None, 1)):
        with pytest.raises(NotImplementedError, match=r"Task 1\.\d: .* - see tutorials/ch00"):
            call()
    with pytest.raises(NotImplementedError, match="Hint: add it to itself"):
        namespace["double"](1)
    kept = render(EXAMPLE, regions, {"1.2"})  # Task 1.1 carried forward, solved
    assert "y = x + x" in kept and "SOLUTION" not in kept


def test_markers_are_comments_only():
    """Each marked file is its code plus the marker lines, nothing moved."""
    for path, regions in scan(ROOT).items():
        text = (ROOT / path).read_text()
        markers = {r.begin for r in regions} | {r.end for r in regions}
        without = [line for i, line in enumerate(text.splitlines(), 1) if i not in markers]
        assert render(text, regions, set()).splitlines() == without
        assert all(text.splitlines()[i - 1].lstrip().startswith("#") for i in markers)


@pytest.mark.parametrize("source, error", [
    ("def f():\n    # BEGIN SOLUTION task=1.1\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION task=1.1\n    # BEGIN SOLUTION task=1.1\n    return 1\n",
     "inside the block"),
    ("def f():\n    # BEGIN SOLUTION task=1.1\n    return 1\n# END SOLUTION\n", "indented"),
    ("def f():\n    # BEGIN SOLUTION points=3\n    return 1\n    # END SOLUTION\n", "task="),
    ("# BEGIN SOLUTION task=1.1\nX = 1\n# END SOLUTION\n", "inside a function"),
    ("def f():\n    # BEGIN SOLUTION task=1.1\n    a = 1\n    # END SOLUTION\n"
     "    # BEGIN SOLUTION task=1.2\n    return a\n    # END SOLUTION\n", "one task"),
])
def test_malformed_markers_are_refused_with_the_line(source, error):
    with pytest.raises(MarkerError, match=error):
        parse(source, "tinyunet/bad.py")


def test_an_extension_block_is_stubbed_as_optional_and_listed_apart():
    source = ("def f3(x):\n    \"\"\"3-D.\"\"\"\n    # BEGIN SOLUTION task=2.1 extension=3d\n"
              "    return x + x\n    # END SOLUTION\n")
    (region,) = parse(source, "tinyunet/example3d.py")
    assert (region.task, region.extension, region.units) == ("2.1", "3d", ("f3",))
    namespace = {}
    exec(compile(render(source, [region], {"2.1"}), "student", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"optional \(the 3-D kernels\): the loops "
                                                  r"of Task 2\.1 with one more axis"):
        namespace["f3"](1)
    regions = scan(ROOT)
    assert {(p, r.task) for p, rs in regions.items() for r in rs if r.extension == "3d"} == {
        ("tinyunet/kernels/reference/conv3d.py", t) for t in ("2.1", "2.2", "2.3")} | {
        ("tinyunet/kernels/reference/pool3d.py", "3.1")}
    (strange,) = parse(source.replace("=3d", "=4d"), "tinyunet/example4d.py")
    with pytest.raises(ValueError, match="unknown extensions .*extension=4d"):
        _check_tasks({**regions, "tinyunet/example4d.py": [strange]})


def test_the_3d_kernels_one_voxel_deep_are_the_2d_ones(rng):
    """What the README's optional section tells students to check their 3-D kernels by."""
    x, w, b = rng.standard_normal((2, 3, 1, 7, 6)), rng.standard_normal((4, 3, 1, 3, 2)), \
        rng.standard_normal(4)
    hyper = dict(stride=(1, 2, 1), padding=(0, 1, 1), dilation=(1, 1, 2))
    flat = {k: v[1:] for k, v in hyper.items()}
    np.testing.assert_allclose(ref.conv3d(x, w, b, **hyper)[:, :, 0],
                               ref.conv2d(x[:, :, 0], w[:, :, 0], b, **flat))
    y3, i3 = ref.max_pool3d(x, (1, 2, 3), (1, 2, 1), (0, 1, 1), (1, 1, 1), False)
    y2, i2 = ref.max_pool2d(x[:, :, 0], (2, 3), (2, 1), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(y3[:, :, 0], y2)
    np.testing.assert_array_equal(i3[:, :, 0], i2)


def test_a_docstring_that_quotes_a_marker_is_not_a_block():
    source = 'def f():\n    """\n    # BEGIN SOLUTION task=1.1\n    """\n    return 1\n'
    assert parse(source, "tinyunet/doc.py") == []


# ----- the swap --------------------------------------------------------------------------------
def test_a_swap_rebinds_a_function_everywhere_and_undoes():
    """``unbroadcast`` is imported by name into autograd: the swap must reach that name too."""
    old = tinyunet.broadcast.unbroadcast
    source = "def unbroadcast(grad, shape):\n    raise NotImplementedError('swapped')\n"
    undo = plugin.install({"module": "tinyunet.broadcast", "qualname": "unbroadcast",
                           "source": source})
    try:
        assert tinyunet.autograd.unbroadcast is tinyunet.broadcast.unbroadcast is not old
        with pytest.raises(NotImplementedError, match="swapped"):
            tinyunet.autograd.unbroadcast(None, ())
    finally:
        for owner, name, value in reversed(undo):
            setattr(owner, name, value)
    assert tinyunet.autograd.unbroadcast is tinyunet.broadcast.unbroadcast is old


def test_a_swapped_method_reads_its_module_globals():
    math = importlib.import_module("tinyunet.ops.math")
    old = math.Exp.__dict__["forward"]
    source = "@staticmethod\ndef forward(ctx, x):\n    return get_array_module(x).exp(x) + 1\n"
    (undo,) = plugin.install({"module": "tinyunet.ops.math", "qualname": "Exp.forward",
                              "source": source})
    try:
        assert math.Exp.forward(None, 0.0) == 2.0
    finally:
        setattr(*undo)
    assert math.Exp.__dict__["forward"] is old


# ----- Gradescope's format ----------------------------------------------------------------------
def test_the_format_check_accepts_the_documented_example():
    example = {"score": 44.0, "execution_time": 136, "output": "text", "visibility":
               "after_due_date", "stdout_visibility": "visible", "extra_data": {},
               "tests": [{"score": 2.0, "max_score": 2.0, "status": "passed", "name": "a",
                          "number": "1.1", "output": "long", "tags": ["t"],
                          "visibility": "visible", "extra_data": {}}],
               "leaderboard": [{"name": "Accuracy", "value": 0.926},
                               {"name": "Time", "value": 15.1, "order": "asc"}]}
    assert gradescope.validate(example) == []


@pytest.mark.parametrize("broken, problem", [
    ([], "JSON object"),
    ({"tests": [{"name": "a"}]}, "no score"),
    ({"score": "44"}, "finite number"),
    ({"score": float("nan")}, "finite number"),
    ({"score": 1, "visibility": "public"}, "one of"),
    ({"score": 1, "tests": [{"score": 1, "status": "ok"}]}, "'passed' or 'failed'"),
    ({"score": 1, "tests": [{"score": 1, "tags": "a"}]}, "list of strings"),
    ({"score": 1, "grade": 3}, "unknown field"),
    ({"score": 1, "leaderboard": [{"name": "x"}]}, "name and a value"),
    ({}, "total score or tests"),
])
def test_the_format_check_names_what_is_wrong(broken, problem):
    assert any(problem in p for p in gradescope.validate(broken)), gradescope.validate(broken)


@pytest.mark.parametrize("action", ["build", "grade"])
def test_the_course_commands_explain_themselves(action, capsys):
    from tinyunet import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["course", action, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"course {action}" in text
