"""The format judge: ``ruff format --check`` on the two files, all or nothing.

ruff only reads the files, so it runs outside the sandbox, on the kit's copy.
A grader without ruff is the grader's fault, not the student's: the point is
given, and the report's faults say what to install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from grading.submission import runs
from grading.submission.intake import SERVER, TESTS
from grading.submission.report import TestResult
from grading.settings import Settings

RUFF = [sys.executable, "-m", "ruff"]
ADVICE = "Run `ruff format partA/server.py partB/test_squarer.py`. ruff says:\n"


def all_failed(settings: Settings, why: str) -> list[TestResult]:
    return [result(settings, False, why)] if settings.points.format else []


def ruff_missing() -> str | None:
    """Why this grader cannot run ruff, or None if it can."""
    try:
        done = subprocess.run(
            [*RUFF, "--version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"ruff could not be run: {error}"
    if done.returncode != 0:
        said = (done.stdout + done.stderr).decode(errors="replace").strip()
        return f"ruff is not installed for {sys.executable} ({said[-200:]})"
    return None


def grade(
    job: runs.Job, kit: Path, files: dict[str, bytes | None], faults: list[str]
) -> list[TestResult]:
    """The format entry; a grader fault (no ruff) goes to ``faults``."""
    settings = job.settings
    if not settings.points.format:
        return []
    missing = [name for name in (SERVER, TESTS) if files.get(name) is None]
    if missing:
        return [result(settings, False, f"not checked: missing {missing[0]}")]
    if why := ruff_missing():
        faults.append(f"format not checked: {why}; install ruff in the grader")
        given = "not checked: the grader has no ruff (not your fault); point given"
        return [result(settings, True, given)]
    command = [*RUFF, "format", "--check", "--diff", "--no-cache", SERVER, TESTS]
    try:
        done = subprocess.run(
            command,
            cwd=kit,
            capture_output=True,
            timeout=job.seconds(settings.runs.format_seconds),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        faults.append("format not checked: ruff did not finish in time")
        return [result(settings, True, "not checked: ruff took too long; point given")]
    # ruff's summary ("1 file would be reformatted") first: a long diff is cut.
    text = (done.stderr + done.stdout).decode(errors="replace")[: runs.OUTPUT_CHARS]
    if done.returncode == 0:
        return [result(settings, True, "both files are formatted (ruff format)")]
    return [result(settings, False, ADVICE + text)]


def result(settings: Settings, ok: bool, output: str) -> TestResult:
    points = settings.points.format
    return TestResult(
        "format (ruff format --check)",
        "3.1",
        points if ok else 0,
        points,
        "passed" if ok else "failed",
        output,
        settings.visibility.tests,
    )
