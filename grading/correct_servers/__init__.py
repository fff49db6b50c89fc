"""Correct servers written apart from the reference, in other styles.

Instructor-only. They prove that the partA suites, the ownership checker
above all, raise no false alarm on a design that is not the reference's:
``grading/test_server_mutants.py`` runs the graded suites on each.
"""
