"""Grading one submission: ``python -m grading grade SUBMISSION``.

In: a student's folder or zip (``partA/server.py``, ``partB/test_squarer.py``,
and ``partC/server.py`` when the settings turn partC on), and the settings.
Out: a ``GradeReport`` (``report.py``), which every output is made from.

The pipeline, in the order it runs:

* ``intake``: find the student's files, read them safely, check they compile;
* ``sandbox`` and ``runs``: every run of student code, contained (no network,
  bounded time and memory, a copy of the pristine kit) and read back;
* the judges: ``judge_partA`` (the graded classic suites on their server),
  ``judge_partB`` (their squarer tests against wheats and chaffs),
  ``judge_partC``, ``judge_format`` (ruff) and ``rules`` (the course rules);
* ``report``: the grade, and the table the grader prints;
* ``grade``: the verb, which runs the above; ``reuse``: what a re-grade may
  keep. ``outcome_plugin`` and ``checks_plugin`` are pytest plugins loaded
  into the sandboxed runs.
"""
