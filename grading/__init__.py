"""The grader. In the students' copy: part B's judge, which they run too
(``python -m grading.squarer_tests partB/test_squarer.py``), with the
correct squarers it runs their tests against (``squarers``).
.. BEGIN INSTRUCTOR

The instructor's tools (``python -m grading --help``), a package a stage:

* ``submission``: grading one submission, from intake to the grade;
* ``platforms``: where a grade goes (Gradescope, PrairieLearn);
* ``classroom``: a whole class, its CSVs and its report page;
* ``student_edition``: the students' copy of the kit;
* ``proof``: the evidence that the grader grades what it should (broken and
  correct implementations, student-style work, the self-check);
* ``tests``: the grader's own tests.

``settings.py`` reads ``settings.toml``, the one file an instructor edits;
every stage reads the settings. ``squarer_tests``, ``squarer_plugin`` and
``squarers`` are part B's judge, here because the students get them too.
.. END INSTRUCTOR
"""
