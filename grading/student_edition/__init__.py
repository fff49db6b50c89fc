"""The students' copy of the kit: ``python -m grading handout OUT``.

In: this tree and the settings. Out: the student tree, with solution regions
cut to stubs, instructor-only files left out, and HANDOUT.md's grading and
hand-in sections written from the settings and the platform
(``handout_text``).
"""
