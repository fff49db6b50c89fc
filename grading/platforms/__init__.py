"""Where a grade goes: Gradescope and PrairieLearn.

In: a ``GradeReport`` (``grading.submission``). Out: each platform's
files: Gradescope's ``results.json`` (``gradescope``), its autograder bundle
(``autograder``: ``python -m grading autograder OUT.zip``), PrairieLearn's
external grader (``prairielearn``); ``entry`` is what a platform's entry
point does (grade one submission, always write results).
"""
