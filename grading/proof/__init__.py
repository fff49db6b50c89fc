"""The evidence that the grader grades what it should, kept apart from it.

Nothing here grades a student. Broken implementations the suites must catch
(``server_mutants``, ``partc_mutants``, ``four_mistakes``); correct servers
unlike the reference, which must pass (``correct_servers``); student-style
test files and whole hand-ins, each with its written truth
(``student_squarer_tests``, ``student_submissions``); a sample class for the
report (``sample_class``, ``sample_submissions``); and the tools that use
them: ``selfcheck`` (``python -m grading selfcheck``), ``suite_runs``, and
the measuring scripts (``measure_partA``, ``measure_squarer_tests``).
"""
