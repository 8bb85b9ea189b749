"""The coursework ladder: thirteen tasks in five stages, each small enough for one sitting.

A task is a set of marked blocks in the library's own source (``# BEGIN SOLUTION task=2.1``,
see ``markers.py``) plus the graded tests that judge them (``graded/test_2_1_*.py``, each test
marked ``@pytest.mark.task("2.1", points=...)``). This file says what each task is *about*:
its title, what it teaches, the book chapter that teaches it, the check that judges it, the
earlier tasks its tests run on (``requires``) and its time budget. Its points are not written
here but summed from the graded tests' markers (:func:`graded_points`), so the README, the
grader and the tests cannot disagree about them.

``requires`` is what makes the fallback possible: when Task 1.2 fails, every task that
requires it is graded a second time with the reference Task 1.2 swapped in. The tests hold
``requires`` honest from both sides (tests/test_course_grader.py): every earlier task a
task's tests *use* is listed (they pass with everything else stubbed), and a task's tests
import no module of a later task.

**The 3-D kernels are an optional extension, stubbed, not read.** ``kernels/reference/conv3d.py``
and ``pool3d.py`` (the 3D U-Net's) are the loops of Tasks 2.1-2.3 and 3.1 with one more
axis, depth, in front of height: a student who found them whole in the repository would read
off the 2-D answers by deleting a loop, which is why the fast kernels stay out too. Leaving
them out would break the reference set's imports and every 3-D op; so they are marked like the
2-D blocks, with ``extension=3d`` (:data:`EXTENSIONS`), and a build stubs them with the task
they extend: same release, same carrying forward. No graded test touches them and they earn
no points; the README lists them apart from the tasks as the optional next step (a 2-D loop
nest becomes a 3-D one, and ``UNet3D`` runs), and the tests hold that no line of any solution,
2-D or 3-D, reaches a student repository.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

GRADED = Path(__file__).resolve().parent / "graded"

ENGINE = ("1.1", "1.2", "1.3")


@dataclass(frozen=True)
class Task:
    id: str                      # "stage.n"
    title: str
    teaches: str                 # one line: the idea the task makes the student write
    chapter: str                 # the book's chapter that teaches it (tutorials/...)
    judged_by: str               # the check that decides it
    requires: tuple[str, ...]    # earlier tasks its tests run on
    budget: float                # seconds of grading time, enforced per task

    @property
    def stage(self) -> int:
        return int(self.id.split(".")[0])

    @property
    def name(self) -> str:
        return f"Task {self.id}: {self.title}"


TASKS = (
    Task("1.1", "elementwise ops and their backward",
         "an op is a forward and its local derivative, side by side (c = a*b: dc/da = b)",
         "tutorials/ch00_engine.py",
         "Function.backward against central differences of Function.forward (no engine yet)",
         (), 30),
    Task("1.2", "broadcasting undone, and reductions",
         "the gradient of a broadcast is a sum: unbroadcast is broadcasting's adjoint",
         "tutorials/ch00_engine.py",
         "<broadcast(a), g> == <a, unbroadcast(g)>, and reductions against central differences",
         (), 30),
    Task("1.3", "the engine: topological order, paths summed",
         "reverse-mode autodiff visits each node after every use of it and adds the paths up",
         "tutorials/ch00_engine.py",
         "tu.gradcheck on graphs that reuse a tensor, and a chain too deep to recurse",
         ENGINE[:2], 30),
    Task("2.1", "conv2d forward, as loops",
         "y[oh, ow] = sum w[kh, kw] x[oh*s - p + kh*d, ow*s - p + kw*d]: cross-correlation",
         "tutorials/ch02_size_trace.py",
         "a NumPy oracle on random shapes, strides, paddings and dilations; the size formula",
         (), 45),
    Task("2.2", "the transposed convolution, as the adjoint",
         "each input pixel paints the kernel into the output; output_padding picks the size",
         "tutorials/ch06_upsampling.py",
         "<conv2d(x), y> == <x, conv_transpose2d(y)>, and a NumPy scatter oracle",
         ("2.1",), 45),
    Task("2.3", "conv2d backward: dL/dw, and dL/dx as a transposed conv",
         "dL/dx is the transposed conv of dL/dy; dL/dw correlates x with dL/dy",
         "tutorials/ch06_upsampling.py",
         "tu.gradcheck of F.conv2d in float64 (reference kernels), and a NumPy oracle for dL/dw",
         (*ENGINE, "2.1", "2.2"), 60),
    Task("3.1", "max-pool with its saved argmax",
         "only the winner of each window moved the output, so only it gets the gradient",
         "tutorials/ch02_size_trace.py",
         "a NumPy oracle for values and argmax, and tu.gradcheck of F.max_pool2d",
         ENGINE, 45),
    Task("3.2", "upsampling: nearest and bilinear",
         "each output pixel reads 1 or 4 input pixels; the backward adds it back with the weights",
         "tutorials/ch06_upsampling.py",
         "a NumPy oracle, and tu.gradcheck of F.interpolate",
         ENGINE, 45),
    Task("3.3", "concat and center crop: the skip connection",
         "cat([d, s], dim=1) stacks context and detail; its backward splits the gradient back",
         "tutorials/ch04_skip_connections.py",
         "tu.gradcheck of cat and center_crop, and torchvision's crop offsets",
         ENGINE, 30),
    Task("4.1", "cross-entropy over pixels",
         "the fused log-softmax + NLL has the gradient softmax(z) - onehot(y)",
         "tutorials/ch07_imbalance.py",
         "a NumPy oracle (weights, ignore_index, label smoothing), and tu.gradcheck",
         ENGINE, 30),
    Task("4.2", "soft Dice",
         "overlap ignores the background; the smoothing terms make an empty mask score 1",
         "tutorials/ch07_imbalance.py",
         "a NumPy oracle, an empty mask predicted empty, and tu.gradcheck",
         ENGINE, 30),
    Task("5.1", "the U-Net forward",
         "down (conv block, save, pool), bottleneck, up (upsample, cat the saved map, conv block)",
         "tutorials/ch04_skip_connections.py",
         "the data flow through the model's own modules, output sizes, tu.gradcheck of the net",
         (*ENGINE, "2.1", "2.2", "2.3", "3.1", "3.2", "3.3"), 60),
    Task("5.2", "training to a target Dice on synthetic cells",
         "forward, loss, zero_grad, backward, step: and gradients accumulate unless zeroed",
         "tutorials/ch05_training.py",
         "gradients equal one fresh backward; a small U-Net reaches validation Dice 0.75",
         (*ENGINE, "2.1", "2.2", "2.3", "3.1", "3.2", "3.3", "4.1", "4.2", "5.1"), 300),
)

BY_ID = {t.id: t for t in TASKS}


@dataclass(frozen=True)
class Extension:
    """Optional, ungraded blocks: stubbed with the task each extends, listed apart."""
    name: str                    # the markers' ``extension=NAME``
    title: str
    stub: str                    # what a stub says it is, of ``{task}``
    what: str                    # the README's paragraph: what it is and how to check it


EXTENSIONS = {e.name: e for e in (
    Extension("3d", "the 3-D kernels", "the loops of Task {task} with one more axis, depth",
              "`UNet3D` runs on the 3-D versions of the kernels you write in Tasks 2.1-2.3 and "
              "3.1: the same loops with one more axis, depth, in front of height (each "
              "module's docstring gives the formula). No test grades them and they earn no "
              "points; write them once their 2-D task passes, and check each against its 2-D "
              "twin: on a volume one voxel deep, with a kernel one tap deep, `conv3d` is "
              "`conv2d`, and `max_pool3d` is `max_pool2d`."),
)}


def task(task_id: str) -> Task:
    if task_id not in BY_ID:
        raise KeyError(f"no Task {task_id}; the tasks are {', '.join(BY_ID)}")
    return BY_ID[task_id]


def stages() -> list[int]:
    return sorted({t.stage for t in TASKS})


def released(release: int | None) -> list[Task]:
    """The tasks a build assigns: every task, or only those of stage ``release``."""
    if release is None:
        return list(TASKS)
    if release not in stages():
        raise ValueError(f"release {release}: the stages are {stages()}")
    return [t for t in TASKS if t.stage == release]


# ----- points, read from the graded tests ------------------------------------------------------
def graded_tests(graded: Path = GRADED) -> dict[str, list[tuple[str, str, float]]]:
    """task id -> [(file, test function, points)] from the ``@pytest.mark.task`` decorators."""
    found: dict[str, list[tuple[str, str, float]]] = {}
    for path in sorted(graded.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                mark = _task_mark(decorator)
                if mark is not None:
                    found.setdefault(mark[0], []).append((path.name, node.name, mark[1]))
    return found


def _task_mark(node) -> tuple[str, float] | None:
    """("2.1", 5.0) from ``pytest.mark.task("2.1", points=5)``, else None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "task"):
        return None
    task_id = ast.literal_eval(node.args[0])
    points = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "points"), 1)
    return task_id, float(points)


def graded_points(graded: Path = GRADED) -> dict[str, float]:
    """task id -> the points its graded tests are worth."""
    return {t: sum(p for _, _, p in tests) for t, tests in graded_tests(graded).items()}
