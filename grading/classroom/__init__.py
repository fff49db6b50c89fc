"""A whole class: ``python -m grading batch FOLDER``.

In: a folder with one submission per student. Out: each student's
``results.json`` and feedback, read back as ``Outcome`` records
(``results``); the class files made from them (``class_outputs``:
grades.csv, the LMS's CSVs, a summary); ``report.html``, the class on one
page (``report_html``, with the pairs of servers that look alike from
``similarity``).
"""
