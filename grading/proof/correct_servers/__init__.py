"""Correct servers written apart from the reference, in other styles.

Instructor-only. They prove that the partA suites, the ownership checker
above all, raise no false alarm on a design that is not the reference's:
``grading/tests/test_server_mutants.py`` runs the graded suites on each.
``lock_guarded`` breaks the course rules (it guards its state with a lock)
and is correct all the same: the suites pass it, and only the rules check
charges it (``grading/tests/test_grade.py``).
"""
