"""The graded tests: one file per task, each test marked ``@pytest.mark.task(ID, points=P)``.

They are not collected by the project's own test run: the grader (``tinyunet.course.grade``)
copies this folder beside its pytest plugin and runs it against a submission. Their helpers
(``graded_checks.py``) use NumPy only.
"""
