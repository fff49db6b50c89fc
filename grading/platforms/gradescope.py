"""A ``GradeReport`` as Gradescope's results.json.

The format is Gradescope's ("Autograder specifications"): a total ``score``,
one entry per test, ``output`` for the student, and ``extra_data``, which
Gradescope keeps and does not show. Output is plain text, and says so
(``output_format``), so that nothing a test prints is read as HTML.

What the staff need and the student does not (how each run was contained,
the grader's own faults) goes to ``extra_data`` and to the grader's stdout,
which Gradescope shows to the staff only (``stdout_visibility``).
"""

from __future__ import annotations

import json
from pathlib import Path

from grading.submission.report import GRADER_FAILED, STAFF, GradeReport

PICTURES = "pictures"  # beside results.json: the failure pictures of partA's tests
FORMAT = "text"  # output_format and test_output_format: what a test prints, as is


def results(report: GradeReport) -> dict:
    """The report as Gradescope's results.json object."""
    return {
        "score": round(report.score, 2),
        "execution_time": round(report.execution_time, 1),
        "output": report.output,
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "stdout_visibility": report.stdout_visibility,
        "extra_data": {
            "status": report.status,
            "faults": report.faults,
            "isolation": report.isolation,
            "parts": report.parts,
            "kept": report.kept,
            "raw_output": report.staff_output,
        },
        "tests": [
            {
                "name": test.name,
                "number": test.number,
                "score": round(test.score, 2),
                "max_score": test.max_score,
                "status": test.status,
                "output": test.output,
                "visibility": test.visibility,
                **_pictures(test),
            }
            for test in report.tests
        ],
    }


def _pictures(test) -> dict:
    """Where the test's failure pictures are kept, beside the results file."""
    if not test.pictures:
        return {}
    return {"extra_data": {"pictures": [f"{PICTURES}/{n}" for n in test.pictures]}}


def write_results(report: GradeReport, path: Path | str) -> None:
    """Write ``report`` as Gradescope's results.json, in one go, and the failure
    pictures it names in the folder ``pictures`` beside it (for the staff)."""
    path = Path(path)
    for test in report.tests:
        for name, page in test.pictures.items():
            keep = path.parent / PICTURES / name
            keep.parent.mkdir(parents=True, exist_ok=True)
            keep.write_text(page)
    write_json(results(report), path)


def write_json(data: dict, path: Path | str) -> None:
    """Write ``data`` to ``path`` whole or not at all (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)


def grader_failed(why: str, detail: str, seconds: float) -> dict:
    """results.json for a grader that could not make a report at all."""
    return {
        "score": 0,
        "execution_time": round(seconds, 2),
        "output": f"NOT GRADED: {why}. This is not your grade: {STAFF}.",
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "stdout_visibility": "hidden",
        "extra_data": {"status": GRADER_FAILED, "faults": [why, detail[-5000:]]},
        "tests": [
            {
                "name": "Autograder",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": f"NOT GRADED: {why} ({STAFF}).",
            }
        ],
    }
