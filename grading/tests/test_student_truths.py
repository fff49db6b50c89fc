"""The grade agrees with each student hand-in's written truth (issue 22, item 7).

``grading/proof/student_submissions/STUDENT/`` holds a hand-in as its zip holds it
(``partA/server.py``, ``partB/test_squarer.py``), written apart from the
reference from the handout and the contract alone, and ``TRUTH.toml``: what a
correct grader must give it, group by group (each partA suite, partB, format,
the course rules, the total), and why, written before the grader ran. Among
them are correct designs unlike the reference (readers that only read while
the coordinator sends, writers started lazily) and one bug each of the kinds a
grade must catch (state shared without messages, a close() that hangs, an
outbox that never drops, a count off).

Each hand-in is graded once, as ``python -m grading grade`` does
(``grade_submission`` with the kit's settings; a truth's ``[settings]``, if
any, overrides them and says why), a few at a time, and every group of the
grade must agree with its truth. A disagreement names the student, the group,
what the grade gave, what the truth says and why.
"""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grading.submission.grade import GradeReport, grade_submission
from grading.submission.report import table
from grading.settings import load_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (the kit depends on tomli there)
    import tomli as tomllib

SUBMISSIONS = Path(__file__).resolve().parents[1] / "proof" / "student_submissions"
STUDENTS = sorted(
    folder.name for folder in SUBMISSIONS.iterdir() if (folder / "TRUTH.toml").is_file()
)
SUITES = ("TestBasic", "TestCount", "TestSlowClient")
JOBS = 6  # grades at once: the hangs and failed counts wait while others work


def truth_of(student: str) -> dict:
    return tomllib.loads((SUBMISSIONS / student / "TRUTH.toml").read_text())


def grade(student: str) -> GradeReport:
    settings = load_settings(overrides=truth_of(student).get("settings"))
    return grade_submission(SUBMISSIONS / student, settings)


@pytest.fixture(scope="module")
def grades() -> dict[str, GradeReport]:
    with ThreadPoolExecutor(JOBS, thread_name_prefix="truth") as pool:
        graded = dict(zip(STUDENTS, pool.map(grade, STUDENTS), strict=True))
    for student, report in graded.items():
        print(f"----- {student}\n{table(report)}")
    return graded


def disagreements(report: GradeReport, truth: dict) -> list[str]:
    """Each group of the grade that does not say what the truth says."""
    found = [
        problem
        for suite in SUITES
        if (problem := _suite(report, suite, truth["partA"][suite]))
    ]
    found += [_partB(report, truth["partB"]), _format(report, truth["format"])]
    rules = _entry(report, "course rules")
    if rules.score != -truth["rules"]["penalty"]:
        found.append(_said("rules", -rules.score, truth["rules"]["penalty"], truth))
    if not _one_of(report.score, truth["total"]):
        found.append(
            f"total: the grade gives {report.score}, the truth {truth['total']}"
        )
    return [problem for problem in found if problem]


def _suite(report: GradeReport, suite: str, truth: dict) -> str:
    tests = [t for t in report.tests if t.name.startswith(f"partA {suite}.")]
    failed = sorted(t.name.rpartition(".")[2] for t in tests if not t.passed)
    score = sum(t.score for t in tests)
    group = f"partA {suite}"
    if failed != sorted(truth["failed"]) or score != truth["points"]:
        return _said(group, f"{score} (failed: {failed})", truth["points"], truth)
    silent = [t.name for t in tests if not t.passed and truth["says"] not in t.output]
    if silent:
        return f"{group}: {silent} failed without saying {truth['says']!r}"
    return ""


def _partB(report: GradeReport, truth: dict) -> str:
    entry = _entry(report, "partB")
    gave = entry.score
    if "valid" in truth:
        valid = "\nVALID:" in f"\n{entry.output}"
        if valid != truth["valid"]:
            return _said("partB", f"{gave}, valid: {valid}", truth["points"], truth)
    if "caught" in truth:
        caught = re.search(r"Bugs caught: (\d+) of (\d+)", entry.output)
        counts = (int(caught[1]), int(caught[2])) if caught else (None, None)
        if not _one_of(counts[0], truth["caught"]) or counts[1] != truth["chaffs"]:
            wanted = f"{truth['caught']} of {truth['chaffs']} caught"
            return _said("partB", f"{gave}, caught: {counts}", wanted, truth)
    if not _one_of(gave, truth["points"]):
        return _said("partB", gave, truth["points"], truth)
    if "says" in truth and truth["says"] not in entry.output:
        return f"partB: its output does not say {truth['says']!r}:\n{entry.output}"
    return ""


def _format(report: GradeReport, truth: dict) -> str:
    entry = _entry(report, "format")
    if entry.score != truth["points"]:
        return _said("format", entry.score, truth["points"], truth)
    if "says" in truth and truth["says"] not in entry.output:
        return f"format: its output does not say {truth['says']!r}"
    return ""


def _one_of(value: float | None, truth: float | list[float]) -> bool:
    """Whether ``value`` is what the truth says: a number, or a list of the
    numbers a correct grader may give (where the outcome is a race the
    student's tests run, the truth says so and why)."""
    allowed = truth if isinstance(truth, list) else [truth]
    return value is not None and any(value == pytest.approx(x) for x in allowed)


def _entry(report: GradeReport, start: str):
    (entry,) = (test for test in report.tests if test.name.startswith(start))
    return entry


def _said(group: str, gave: object, wanted: object, truth: dict) -> str:
    why = " ".join(truth.get("why", "").split())
    return f"{group}: the grade gives {gave}, the truth says {wanted}, because: {why}"


@pytest.mark.slow
@pytest.mark.parametrize("student", STUDENTS)
def test_the_grade_agrees_with_the_truth(
    grades: dict[str, GradeReport], student: str
) -> None:
    report = grades[student]
    problems = disagreements(report, truth_of(student))
    assert not problems, (
        f"{student}'s grade disagrees with its truth "
        f"(grading/proof/student_submissions/{student}/TRUTH.toml):\n- "
        + "\n- ".join(problems)
        + f"\n\n{table(report)}"
    )


def test_every_truth_speaks_of_every_group() -> None:
    """A truth that leaves a group out would let the grade say anything there."""
    assert len(STUDENTS) >= 6
    for student in STUDENTS:
        truth = truth_of(student)
        groups = [truth["partA"][suite] for suite in SUITES]
        groups += [truth["partB"], truth["format"], truth["rules"]]
        assert all(group.get("why") for group in groups), student
        assert "total" in truth, student
        for suite in SUITES:
            wanted = truth["partA"][suite]
            assert wanted["failed"] == [] or wanted.get("says"), (student, suite)
