"""``tinyunet course build|grade``: the coursework kit (``tinyunet.course``)."""

from __future__ import annotations

import json
from pathlib import Path

from .common import command


def add_course(commands):
    p = command(commands, "course", "build a student repository, or grade one",
                description="The coursework kit: build a student repository from the library's "
                            "own source\n(its solution markers), and grade a repository task by "
                            "task.",
                examples=["tinyunet course build course-out",
                          "tinyunet course build course-out --release 2",
                          "cd course-out && python -m tinyunet course grade",
                          "tinyunet course grade /autograder/submission "
                          "--out /autograder/results/results.json"])
    actions = p.add_subparsers(title="actions", metavar="ACTION")

    b = command(actions, "build", "write a student repository to OUT",
                description="Copy tinyunet into OUT with every marked solution block of the "
                            "assigned tasks\nreplaced by raise NotImplementedError(...), the "
                            "fast kernels left out, and an\nassignment README.",
                examples=["tinyunet course build course-out",
                          "tinyunet course build course-out --release 3 --force"])
    b.add_argument("out", type=Path, help="the folder to write (must be empty or absent)")
    b.add_argument("--release", type=int, default=None,
                   help="assign stage N only: earlier stages arrive solved, later ones stay "
                        "stubs (default: every task)")
    b.add_argument("--force", action="store_true", help="replace OUT if it is not empty")
    b.set_defaults(run=run_build)

    g = command(actions, "grade", "grade the tinyunet in DIR, task by task",
                description="Run the graded tests against DIR's tinyunet, print a per-task "
                            "table and write\ngrades.json (Gradescope's format). Where the "
                            "instructor's reference is installed,\na task whose prerequisite "
                            "fails is graded again with the reference prerequisite.",
                examples=["python -m tinyunet course grade",
                          "python -m tinyunet course grade --task 2.1 --task 2.2",
                          "tinyunet course grade submission --seed 1234 --out results.json"])
    g.add_argument("dir", nargs="?", default=".", type=Path,
                   help="the repository to grade (default: the current folder)")
    g.add_argument("--task", action="append", dest="tasks", metavar="ID",
                   help="grade this task (repeatable; default: the tasks of DIR/course.json, "
                        "else all)")
    g.add_argument("--release", type=int, default=None, help="grade the tasks of stage N")
    g.add_argument("--seed", type=int, default=None,
                   help="draw the graded inputs from this seed (default: a fresh one)")
    g.add_argument("--reference", default="auto",
                   help="the folder holding the instructor's tinyunet, 'none' for no fallback "
                        "(default: this grader's own source, when it carries the solutions)")
    g.add_argument("--tracebacks", action="store_true",
                   help="print pytest's tracebacks of the failing tests before the table")
    g.add_argument("--out", type=Path, default=None,
                   help="where to write the Gradescope results (default: DIR/grades.json)")
    g.set_defaults(run=run_grade)
    p.set_defaults(run=lambda args: p.print_help() or 2)


def run_build(args) -> int:
    from ..course.build import build

    made = build(args.out, release=args.release, force=args.force)
    print(f"wrote {made.files} files to {made.out}: tasks {', '.join(made.graded)} assigned, "
          f"{made.blocks} solution blocks stubbed ({made.optional} of them optional); see "
          f"{made.out / 'README.md'}")
    return 0


def run_grade(args) -> int:
    from ..course import gradescope
    from ..course.grade import grade

    report = grade(args.dir, tasks=args.tasks, release=args.release, seed=args.seed,
                   reference=args.reference, tracebacks=args.tracebacks)
    if args.tracebacks:
        print(report.log)
    print(report.table())
    out = args.out or Path(args.dir) / "grades.json"
    results = gradescope.results(report)
    problems = gradescope.validate(results)
    if problems:
        raise RuntimeError("the results break Gradescope's format: " + "; ".join(problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0
