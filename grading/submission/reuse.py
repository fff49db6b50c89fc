"""Re-grading only what changed: a digest for each part of a grade.

Each part's result depends on some of the submission's files, some of the
settings and some of the kit's code, and on nothing else:

* partA: partA/server.py; ``[points.partA]``, the run times, the sandbox;
  the partA suites and harness, and the grader's code that runs them;
* partC: partC/server.py and partA/server.py; ``[partC]`` and the same;
* partB: partB/test_squarer.py; ``points.partB``, the partB run settings, the
  sandbox; the squarers, the judge and partB/squarer.py;
* format: both files; ``points.format``; ruff's version.

(The course rules take no time and are always checked again.) ``digests``
gives each part's digest; a report keeps them (``GradeReport.parts``, and
Gradescope's results under ``extra_data.parts``). ``kept`` reads an earlier
results file and returns the entries of each part whose digest is the same
now: grading then runs only the other parts (``grade_submission(...,
before=...)``). Changing ``points.format`` re-grades the format alone;
handing in a new partB/test_squarer.py re-judges partB alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from grading.submission.intake import PARTC_SERVER, SERVER, TESTS
from grading.submission.report import GRADED, TestResult
from grading.settings import Settings

KIT_ROOT = Path(__file__).resolve().parents[2]
COMMON = [  # the grader's code that every run goes through
    "conftest.py",
    "grading/submission/runs.py",
    "grading/submission/sandbox.py",
    "grading/submission/intake.py",
    "grading/student_edition/handout.py",
    "grading/submission/outcome_plugin.py",
]
SECTIONS = {"1": "partA", "5": "partC", "2": "partB", "3": "format"}  # by number


def digests(files: dict[str, bytes | None], settings: Settings) -> dict[str, str]:
    """Each part's digest: what its result depends on."""
    runs, box = settings.runs, dataclasses.asdict(settings.sandbox)
    times = [runs.test_seconds, runs.reply_seconds, runs.call_seconds]
    partB_runs = {k: v for k, v in vars(runs).items() if k.startswith("partB_")}
    visible = settings.visibility
    return {
        "partA": _digest(
            [files.get(SERVER)],
            [settings.points.partA, times, runs.partA_seconds, box, visible.tests],
            ["partA/*.py", "grading/submission/judge_partA.py"],
        ),
        "partC": _digest(
            [files.get(SERVER), files.get(PARTC_SERVER)],
            [dataclasses.asdict(settings.partC), times, box, visible.tests],
            ["partA/*.py", "partC/**/*.py", "grading/submission/judge_partC.py"],
        ),
        "partB": _digest(
            [files.get(TESTS)],
            [settings.points.partB, partB_runs, box, visible.partB],
            [
                "partB/*.py",
                "grading/submission/judge_partB.py",
                "grading/squarer_tests.py",
                "grading/squarer_plugin.py",
                "grading/squarers/*.py",
            ],
        ),
        "format": _digest(
            [files.get(SERVER), files.get(TESTS)],
            [settings.points.format, runs.format_seconds, visible.tests, _ruff()],
            ["grading/submission/judge_format.py"],
        ),
    }


def _digest(contents: list[bytes | None], settings: list, code: list[str]) -> str:
    digest = hashlib.sha256(sys.version.encode() + b"\0")
    for content in contents:
        digest.update(b"absent\0" if content is None else content + b"\0")
    digest.update(json.dumps(settings, sort_keys=True, default=repr).encode() + b"\0")
    for pattern in COMMON + code:
        for path in sorted(KIT_ROOT.glob(pattern)):
            digest.update(path.relative_to(KIT_ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ruff() -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ruff", "--version"], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "no ruff"
    return done.stdout.decode(errors="replace").strip() or "no ruff"


def kept(before: Path | None, now: dict[str, str]) -> dict[str, list[TestResult]]:
    """The entries of each part graded in ``before`` (a results.json) under the
    digest it has ``now``; none from a file that is missing, unreadable, or
    not a grade (refused, or the grader failed)."""
    try:
        data = json.loads(before.read_text()) if before else None
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("extra_data"), dict):
        return {}
    extra = data["extra_data"]
    if extra.get("status") != GRADED or not isinstance(extra.get("parts"), dict):
        return {}
    same = {part for part, digest in now.items() if extra["parts"].get(part) == digest}
    found: dict[str, list[TestResult]] = {}
    for test in data.get("tests", []):
        part = SECTIONS.get(str(test.get("number", "")).partition(".")[0])
        if part in same:
            found.setdefault(part, []).append(_entry(test, before.parent))
    return found


def _entry(test: dict, folder: Path) -> TestResult:
    """A results.json test entry as a ``TestResult`` again, pictures and all."""
    pictures = {}
    for relative in test.get("extra_data", {}).get("pictures", []):
        path = folder / relative
        if path.is_file():
            pictures[path.name] = path.read_text(errors="replace")
    return TestResult(
        test["name"],
        test["number"],
        test["score"],
        test["max_score"],
        test["status"],
        test.get("output", ""),
        test.get("visibility", "visible"),
        pictures,
    )
