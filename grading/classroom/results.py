"""A graded class, read back: each student's ``Outcome`` from the
``results.json`` the grader wrote, and which part of the grade each test
counts for.

In: results.json files (Gradescope's format, as ``grade`` writes them).
Out: ``Outcome`` records, which ``batch`` prints and the class outputs
(``class_outputs``, ``report_html``) are made from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PARTS = ("partA", "partB", "partC", "format", "rules")


@dataclass(frozen=True)
class Outcome:
    """How one student's submission fared."""

    student: str
    score: float
    max_score: float
    parts: dict[str, float]  # points by part (PARTS)
    seconds: float
    status: (
        str  # "graded", "refused" (see ``reason``), or what kept it from being graded
    )
    failed: tuple[str, ...]  # the tests that did not pass
    results: Path  # its results.json
    reason: str = ""  # for "refused": why the grader turned it down
    reused: bool = False  # kept from an earlier run: nothing it depends on changed
    kept: tuple[str, ...] = ()  # re-graded in part: these parts kept from before
    # each test of its grade: number, name, score, max_score
    tests: tuple[tuple[str, str, float, float], ...] = ()


def status_of(report: dict) -> str:
    """The grader's status: "graded", "refused" or "grader failed"."""
    extra = report.get("extra_data")
    status = extra.get("status") if isinstance(extra, dict) else None
    return status if isinstance(status, str) and status else "graded"


def read_results(path: Path) -> dict | None:
    """A results.json, read back (None if it is missing or not a JSON object)."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def outcome_of(
    student: str, report: dict, seconds: float, status: str, results: Path
) -> Outcome:
    """One student's ``Outcome``, from the results.json the grader wrote."""
    tests = [test for test in report.get("tests", []) if isinstance(test, dict)]
    parts = dict.fromkeys(PARTS, 0.0)
    for test in tests:
        part = part_of(test)
        if part in parts:
            parts[part] += float(test.get("score") or 0)
    score = report.get("score")
    total = float(score) if score is not None else sum(parts.values())
    maximum = sum(float(test.get("max_score") or 0) for test in tests)
    failed = tuple(str(test.get("name", "?")) for test in tests if is_failed(test))
    reason = ""
    if status == "refused":
        output = str(report.get("output", ""))
        said = output.partition("could not be graded: ")[2] or output
        reason = " ".join(said.split())[:200]
    extra = report.get("extra_data")
    kept = extra.get("kept", []) if isinstance(extra, dict) else []
    return Outcome(
        student,
        total,
        maximum,
        parts,
        seconds,
        status,
        failed,
        results,
        reason,
        kept=tuple(str(part) for part in kept if isinstance(kept, list)),
        tests=tuple(
            (
                str(test.get("number", "")),
                str(test.get("name", "?")),
                float(test.get("score") or 0),
                float(test.get("max_score") or 0),
            )
            for test in tests
        ),
    )


def part_of(test: dict) -> str:
    """Which part of the grade (PARTS) a results.json test entry counts for.

    The grader numbers its tests by part (1.x partA, 2.x partB, 3.x format,
    4.x rules, 5.x partC); failing that, clues in the tags and the name tell.
    """
    section = str(test.get("number", "")).partition(".")[0]
    if section in _SECTIONS:
        return _SECTIONS[section]
    tags = [str(tag).lower() for tag in test.get("tags", [])]
    words = " ".join([*tags, str(test.get("number", "")), str(test.get("name", ""))])
    words = words.lower()
    for part, clues in _CLUES:
        if any(clue in words for clue in clues):
            return part
    return "other"


_SECTIONS = {"1": "partA", "2": "partB", "3": "format", "4": "rules", "5": "partC"}
_CLUES = (  # the first part with a clue in a test's tags, number or name wins
    ("format", ("format",)),
    ("rules", ("rule", "lock", "forbidden")),
    ("partB", ("partb", "part b", "squarer", "chaff", "wheat")),
    ("partC", ("partc", "part c")),
    ("partA", ("parta", "part a", "basic", "count", "slow")),
)


def is_failed(test: dict) -> bool:
    """Whether a results.json test entry did not pass."""
    if test.get("status") in ("passed", "failed"):
        return test["status"] == "failed"
    return float(test.get("score") or 0) < float(test.get("max_score") or 0)
