"""The coursework kit: student repositories generated from the solutions, graded per task.

The library's own source is the answer key. The bodies students write are marked where they
live, with two comment lines (``markers.py``), and each mark names one of thirteen tasks in
five stages (``tasks.py``); a few marks add ``extension=3d``, the 3-D kernels, stubbed with
the task they extend but optional and ungraded (``tasks.py`` says why)::

    tinyunet course build course-out            # the student repository (stubs.py, build.py)
    cd course-out && python -m tinyunet course grade         # 0/100 on every task
    tinyunet course grade .                     # the project itself: 100/100

``grade`` (``grade.py``) runs the graded tests (``graded/``, one file per task, each test
marked ``@pytest.mark.task("2.1", points=2)``) in a pytest subprocess (``session.py``) under
a plugin (``plugin.py``) that gives partial credit, draws fresh inputs from a seed it picks,
enforces each task's time budget and, when a prerequisite fails, swaps the reference
version of that prerequisite in for a second run. The results go out as Gradescope's
``results.json`` (``gradescope.py``). ``mistakes.py`` holds the typical mistakes the grader
is tested against; it stays with the instructor.

On Gradescope: install the instructor's tinyunet in ``setup.sh`` (``pip install`` of this
repository), and make ``run_autograder``::

    cd /autograder && python -m tinyunet course grade /autograder/submission \\
        --release N --out /autograder/results/results.json

The grader, its tests and the reference then come from the installed copy, and only the
submission's ``tinyunet/`` is the student's.
"""
