"""What ``batch`` writes for a graded class, beside each results.json.

* ``class_stats``: the one summary of the totals (mean, median), which
  summary.txt and report.html both show. It counts the graded submissions
  only: a refused one (nothing in it could be graded) and one the grader
  did not finish are counted apart, never as a 0 in the mean.
* ``write_grades``: grades.csv, one row a student: the student's ID (from
  the roster), the total, the points of each part and of each test.
* ``write_canvas`` and ``write_moodle``: the total as each LMS imports it
  (``CANVAS_COLUMNS``, ``MOODLE_COLUMNS``), a row per student the roster
  names. A roster is a CSV with a header: ``folder`` (the submission's
  name in the class folder, ``alice`` for ``alice/`` or ``alice.zip``) and
  ``id`` (the LMS's ID of the student: Canvas's user ID, Moodle's ID
  number), and, where known, ``name``, ``email``, ``sis_user_id``,
  ``sis_login_id`` and ``section``. A refused submission scores 0 there; one
  the grader did not finish is left blank, which both LMSs skip on import,
  so that no made-up grade reaches the gradebook.
* ``write_feedback``: ``<student>/feedback.txt``, what the student sees (the
  grade, the grader's note, each test that is not hidden and what it said),
  ready to send.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grading.classroom.results import PARTS, Outcome, read_results

GRADED, REFUSED = "graded", "refused"
# Canvas: Grades > Import, the columns of its gradebook export (Student, ID,
# SIS User ID, SIS Login ID, Section), then one column per assignment, named
# as the assignment (a new name makes a new assignment; "Name (id)" an old one).
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# Moodle: Grades > Import > CSV file; "Identify user by" maps one of these
# columns to the user's "ID number" or "Email address", and "Grade item
# mappings" maps the grade column to the assignment's grade item.
MOODLE_COLUMNS = ("ID number", "Email address")
ROSTER_COLUMNS = ("folder", "id")  # required; also name, email, sis_*, section


class RosterError(ValueError):
    """A roster file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Stats:
    """The totals of a class, counted one way everywhere."""

    graded: int
    refused: int
    not_graded: int
    mean: float
    median: float
    max_score: float

    def line(self) -> str:
        """The summary in words, as summary.txt and report.html say it."""
        return (
            f"Total scores of the {self.graded} graded submissions (out of "
            f"{self.max_score:g}): mean {self.mean:.1f}, median {self.median:g} "
            f"({self.refused} refused and {self.not_graded} not graded are "
            f"counted apart)"
        )


def class_stats(outcomes: Sequence[Outcome]) -> Stats:
    """The mean and median of the graded submissions' totals; the refused and
    the not graded are counted apart, never as a 0."""
    graded = [outcome for outcome in outcomes if outcome.status == GRADED]
    scores = [outcome.score for outcome in graded] or [0.0]
    refused = sum(outcome.status == REFUSED for outcome in outcomes)
    return Stats(
        len(graded),
        refused,
        len(outcomes) - len(graded) - refused,
        statistics.mean(scores),
        statistics.median(scores),
        max([outcome.max_score for outcome in outcomes] or [0.0]),
    )


def number_key(number: str) -> tuple[int, ...]:
    """A test's number as numbers, so that 1.10 comes after 1.9."""
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))


def graded_tests(outcomes: Sequence[Outcome]) -> list[str]:
    """Every test of the class's grades, in the grader's order."""
    numbers: dict[str, str] = {}
    for outcome in outcomes:
        for number, name, _, _ in outcome.tests:
            numbers.setdefault(name, number)
    return sorted(numbers, key=lambda name: number_key(numbers[name]))


# The roster.


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """Each submission's row of the roster, by its folder name."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise RosterError(f"{path}: {error}") from None
    missing = [c for c in ROSTER_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise RosterError(
            f"{path}: a roster needs a header with the columns "
            f"{', '.join(ROSTER_COLUMNS)} and a row per student"
        )
    return {row["folder"].strip(): row for row in rows}


def unlisted(outcomes: Sequence[Outcome], roster: dict[str, dict]) -> list[str]:
    """The students graded whom the roster does not name."""
    return [outcome.student for outcome in outcomes if outcome.student not in roster]


# The files.


def write_grades(
    outcomes: Sequence[Outcome], path: Path, roster: dict[str, dict] | None = None
) -> None:
    """grades.csv: a row a student, with the ID, the parts and every test."""
    tests = graded_tests(outcomes)
    header = ["student", "id", "total", *PARTS, *tests, "time", "status"]
    rows = []
    for outcome in outcomes:
        scores = {name: score for _, name, score, _ in outcome.tests}
        row = [outcome.student, (roster or {}).get(outcome.student, {}).get("id", "")]
        row += [f"{outcome.score:g}", *(f"{outcome.parts[p]:g}" for p in PARTS)]
        row += [_points(scores.get(name)) for name in tests]
        rows.append([*row, f"{outcome.seconds:.1f}", outcome.status])
    _write_csv(path, header, rows)


def write_canvas(
    outcomes: Sequence[Outcome], path: Path, roster: dict[str, dict], assignment: str
) -> None:
    """The totals as Canvas imports them (``CANVAS_COLUMNS``)."""
    rows = [
        [
            entry.get("name", outcome.student),
            entry["id"],
            entry.get("sis_user_id", ""),
            entry.get("sis_login_id", ""),
            entry.get("section", ""),
            _lms_score(outcome),
        ]
        for outcome, entry in _listed(outcomes, roster)
    ]
    _write_csv(path, [*CANVAS_COLUMNS, assignment], rows)


def write_moodle(
    outcomes: Sequence[Outcome], path: Path, roster: dict[str, dict], assignment: str
) -> None:
    """The totals as Moodle's CSV grade import reads them (``MOODLE_COLUMNS``)."""
    rows = [
        [entry["id"], entry.get("email", ""), _lms_score(outcome)]
        for outcome, entry in _listed(outcomes, roster)
    ]
    _write_csv(path, [*MOODLE_COLUMNS, assignment], rows)


def write_feedback(outcomes: Sequence[Outcome]) -> None:
    """``feedback.txt`` beside each results.json: what the student sees."""

    for outcome in outcomes:
        report = read_results(outcome.results) or {}
        feedback = feedback_text(outcome.student, report)
        (outcome.results.parent / "feedback.txt").write_text(feedback, encoding="utf-8")


def feedback_text(student: str, report: dict) -> str:
    """The grade as the student reads it: the total, the grader's note, and
    each test that is not hidden, with what it said."""
    tests = [test for test in report.get("tests", []) if isinstance(test, dict)]
    most = sum(float(test.get("max_score") or 0) for test in tests)
    lines = [f"P0, {student}: {_points(report.get('score', 0))} / {most:g}", ""]
    if report.get("output"):
        lines += [str(report["output"]).strip(), ""]
    for test in tests:
        if test.get("visibility") == "hidden":
            continue
        score = f"{_points(test.get('score'))}/{_points(test.get('max_score'))}"
        lines.append(f"{test.get('name', '?')}: {score}")
        said = str(test.get("output") or "").strip()
        lines += [f"    {line}" for line in said.splitlines()] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _listed(outcomes: Sequence[Outcome], roster: dict[str, dict]):
    return [(o, roster[o.student]) for o in outcomes if o.student in roster]


def _lms_score(outcome: Outcome) -> str:
    """The grade to import: blank for a submission the grader did not finish."""
    if outcome.status not in (GRADED, REFUSED):
        return ""
    return f"{outcome.score:g}"


def _points(value: object) -> str:
    return "" if value is None else f"{float(value):g}"  # type: ignore[arg-type]


def _write_csv(path: Path, header: Sequence[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
