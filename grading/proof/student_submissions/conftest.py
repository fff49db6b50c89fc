"""The hand-ins here are graded (grading/tests/test_student_truths.py), never collected:
their partB/test_squarer.py files are students' tests, not the kit's."""

collect_ignore_glob = ["*/partA/*", "*/partB/*"]
