"""Typical student mistakes, applied to the solutions: each costs points in its own task, and
none anywhere else (the tasks built on a broken one are graded with its reference)."""

import pytest

from tinyunet.course.grade import grade
from tinyunet.course.mistakes import MISTAKES, with_mistakes
from tinyunet.course.tasks import BY_ID, graded_points

NAMES = {m.name for m in MISTAKES}


def test_the_listed_mistakes_are_all_here():
    assert NAMES == {
        "kernel flipped", "padding off by one", "stride and dilation swapped",
        "missing output_padding", "gradient overwritten instead of accumulated",
        "max-pool gradient to the window's first element", "Dice without the smoothing terms",
        "concat on the wrong axis"}


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_mistake_costs_points_in_its_own_task(mistake, tmp_path):
    tree = with_mistakes(tmp_path / "submission", [mistake])
    (graded,) = grade(tree, tasks=[mistake.task], reference=None, progress=False).grades
    assert graded.score < graded.max_score, f"{mistake.name} went unnoticed by Task {mistake.task}"
    assert graded.score > 0 or mistake.task == "2.1", "a mistake costs part of a task, not all"


def test_the_mistakes_together_cost_points_in_their_own_tasks_only(tmp_path):
    """The mistakes at once (all but "stride and dilation swapped", which edits the lines
    "padding off by one" edits), graded like a submission on the autograder: the mistaken
    tasks lose points, every other task keeps all of its points, and the tasks whose tests ran
    on a mistaken prerequisite say they were graded with its reference."""
    together = [m for m in MISTAKES if m.name != "stride and dilation swapped"]
    tree = with_mistakes(tmp_path / "submission", together)
    report = grade(tree, reference="auto", progress=False)
    scores = {g.task.id: g.score for g in report.grades}
    mistaken = {m.task for m in together}
    assert {t for t in BY_ID if scores[t] < graded_points()[t]} == mistaken, scores
    fallback = {g.task.id for g in report.grades
                if any("graded with the reference" in n for n in g.notes)}
    assert fallback - mistaken, "a broken engine and broken kernels send tasks to the fallback"
