"""Typical student mistakes, written as edits of the solutions (the instructor's file: a course
build leaves it out, since each edit quotes a solution line).

Each must cost points in its own task and in no other (tests/test_course_mistakes.py grades
the solutions with the mistakes applied): a grader that misses one of these has a blind spot,
and one that charges it to another task has a leak.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

from .markers import parse

CONV = "tinyunet/kernels/reference/conv.py"
IH, IW = "ih = oh * sh - ph + kh * dh", "iw = ow * sw - pw + kw * dw"


@dataclass(frozen=True)
class Mistake:
    name: str
    task: str
    path: str
    edits: tuple[tuple[str, str], ...]  # (solution text, mistaken text) inside the task's blocks
    why: str

    def apply(self, text: str) -> str:
        """``text`` (the solution file) with the edits made; each solution text must occur
        exactly once inside this task's blocks of the file."""
        lines = text.splitlines(keepends=True)
        prose = _docstring_lines(text)
        for old, new in self.edits:
            hits = [(i, line) for r in parse(text, self.path) if r.task == self.task
                    for i, line in enumerate(lines[r.begin:r.end - 1], r.begin)
                    if old in line and i not in prose]
            if len(hits) != 1 or hits[0][1].count(old) != 1:
                raise ValueError(f"{self.name}: {old!r} occurs {len(hits)} times in Task "
                                 f"{self.task}'s blocks of {self.path}; it must occur once")
            i, line = hits[0]
            lines[i] = line.replace(old, new)
            text = "".join(lines)
        return text

    def write(self, root: Path) -> None:
        """Apply the mistake to the file under ``root`` (a copy of the solutions)."""
        file = Path(root) / self.path
        file.write_text(self.apply(file.read_text()))


def _docstring_lines(text: str) -> set[int]:
    """0-based indices of the lines inside docstrings (a formula there is not code)."""
    found = set()
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            found.update(range(node.lineno - 1, node.end_lineno))
    return found


MISTAKES = (
    Mistake("kernel flipped", "2.1", CONV,
            (("total += w[co, ci, kh, kw] * x[n, ci, ih, iw]",
              "total += w[co, ci, kH - 1 - kh, kW - 1 - kw] * x[n, ci, ih, iw]"),),
            "a true convolution (the kernel flipped) instead of the cross-correlation that "
            "every deep-learning library computes"),
    Mistake("padding off by one", "2.1", CONV,
            ((IH, "ih = oh * sh - (ph - 1) + kh * dh"), (IW, "iw = ow * sw - (pw - 1) + kw * dw")),
            "the window starts p - 1 pixels before the output position instead of p"),
    Mistake("stride and dilation swapped", "2.1", CONV,
            ((IH, "ih = oh * dh - ph + kh * sh"), (IW, "iw = ow * dw - pw + kw * sw")),
            "windows step by the dilation and taps step by the stride"),
    Mistake("missing output_padding", "2.2", CONV,
            (("+ dh * (kH - 1) + oph + 1", "+ dh * (kH - 1) + 1"),
             ("+ dw * (kW - 1) + opw + 1", "+ dw * (kW - 1) + 1")),
            "the transposed conv ignores output_padding, so it cannot give back a size the "
            "strided conv's floor dropped"),
    Mistake("gradient overwritten instead of accumulated", "1.3", "tinyunet/autograd.py",
            (("grads[key] = gp if key not in grads else grads[key] + gp", "grads[key] = gp"),),
            "a tensor used twice keeps only the last path's gradient"),
    Mistake("max-pool gradient to the window's first element", "3.1",
            "tinyunet/kernels/reference/pool.py",
            (("best, best_index = v, h * W + w", "best = v"),),
            "the saved index stays at the window's first pixel, so the gradient goes there "
            "instead of to the maximum"),
    Mistake("Dice without the smoothing terms", "4.2", "tinyunet/ops/dice.py",
            (("den = P + G + smooth_dr", "den = P + G"),
             ("D = (2 * I + smooth_nr) / den", "D = 2 * I / den")),
            "an empty mask predicted empty is 0 / 0"),
    Mistake("concat on the wrong axis", "3.3", "tinyunet/ops/concat.py",
            (("concatenate(xs, axis=dim)", "concatenate(xs, axis=-1)"),),
            "the pieces are joined along the last axis whatever dim says"),
)


def with_mistakes(out, mistakes=(), source: Path | None = None) -> Path:
    """A copy of the solutions' package in ``out`` with ``mistakes`` applied. The fast kernels
    are linked, not copied, so the copy shares numba's cache of compiled kernels."""
    source = Path(source or Path(__file__).resolve().parents[2])
    out = Path(out)
    shutil.copytree(source / "tinyunet", out / "tinyunet",
                    ignore=shutil.ignore_patterns("__pycache__", "numba_cpu"))
    (out / "tinyunet" / "kernels" / "numba_cpu").symlink_to(
        source / "tinyunet" / "kernels" / "numba_cpu", target_is_directory=True)
    for mistake in mistakes:
        mistake.write(out)
    return out
