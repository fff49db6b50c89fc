"""partB's judge: the student's squarer tests, against wheats and chaffs.

``run_squarer_tests`` (grading/squarer_tests.py) runs the student's tests
against correct squarers (wheats: every test must pass on every run) and
buggy ones (chaffs: some test must fail); the score is partB's points times
the share of chaffs caught, and 0 if any test fails a wheat. The judge is a
process of its own in the sandbox, since the student's tests are code too,
and runs from a folder that holds only what it needs, never from the
instructor tree.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from grading.submission import runs, sandbox

from grading import squarer_tests
from grading.submission.intake import TESTS, syntax_error
from grading.submission.report import TestResult
from grading.settings import Settings

KIT_ROOT = runs.KIT_ROOT


def all_failed(settings: Settings, why: str) -> list[TestResult]:
    return [_result(settings, 0, why, failed=True)] if settings.points.partB else []


def grade(job: runs.Job, tests: bytes | None) -> tuple[list[TestResult], str]:
    """partB's entry, and how the judge was contained."""
    settings, work = job.settings, job.work
    if not settings.points.partB:
        return [], ""
    if tests is None:
        why = f"not run: there is no {TESTS} in the submission"
        return [_result(settings, 0, why, failed=True)], ""
    if error := syntax_error(tests, TESTS):
        return [_result(settings, 0, f"not run: {error}", failed=True)], ""
    out = work / "partB-out"
    judge = _judge_folder(work / "partB-judge", tests)
    verdict_file = out / "verdict.json"
    how = settings.runs
    options = {
        "wheat_runs": how.partB_wheat_runs or None,
        "chaff_runs": how.partB_chaff_runs,
        "jobs": how.partB_jobs,
        "test_seconds": how.partB_test_seconds,
        "run_seconds": how.partB_run_seconds,
        "cpu_seconds": settings.sandbox.cpu_seconds,
        "max_bytes": settings.sandbox.file_size_mib * 2**20,
    }
    command = [
        sys.executable,
        "-c",
        "from grading.squarer_tests import judge_child; judge_child()",
    ]
    command += [str(judge / JUDGED), str(verdict_file), json.dumps(options)]
    outcome = runs.run(
        job,
        command,
        seconds=how.partB_seconds,
        cwd=out,
        env=runs.environment(settings, out, [judge]),
        writable=[out],
        hidden=runs.hidden(work, "partB-out", "partB-judge"),
    )
    score = _score(settings, verdict_file, outcome)
    return [score], runs.isolation_line("partB", outcome)


# What the partB judge runs from: squarer_tests.FILES (the judge, the plugin,
# the given squarer) and the squarers, copied out of the instructor tree, so
# that the student's tests, run by the judge, cannot read the rest.
JUDGED = "test_squarer.py"  # the student's tests, in the judge's folder


def _judge_folder(judge: Path, tests: bytes) -> Path:
    """A folder, readable by all, writable by none, to run the judge from."""
    squarers = sorted((KIT_ROOT / "grading" / "squarers").glob("*.py"))
    for source in [KIT_ROOT / name for name in squarer_tests.FILES] + squarers:
        target = judge / source.relative_to(KIT_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (judge / JUDGED).write_bytes(tests)
    sandbox.open_to_all(judge)
    return judge


def _score(settings: Settings, verdict_file: Path, outcome) -> TestResult:
    from grading.squarer_tests import describe

    try:
        verdict = verdict_from(json.loads(verdict_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        tail = outcome.output[-runs.OUTPUT_CHARS :]
        why = (
            f"your tests could not be judged: the judging process {outcome.describe()}"
            + (f"\nIts output ended with:\n{tail}" if tail else "")
        )
        return _result(settings, 0, why, failed=True)
    points = settings.points.partB
    score = (
        round(points * verdict.caught / len(verdict.chaffs), 2)
        if (verdict.valid and verdict.chaffs)
        else 0
    )
    text = describe(verdict)
    return _result(settings, score, text, failed=score < points)


def verdict_from(data: dict):
    """A ``squarer_tests.Verdict`` again, from ``dataclasses.asdict`` of one."""
    from grading.squarer_tests import Failure, Result, Run, Verdict
    from grading.squarers import Implementation

    def result(item: dict) -> Result:
        runs = tuple(
            Run(
                run["squarer"],
                run["number"],
                tuple(run["tests"]),
                tuple(Failure(**failure) for failure in run["failures"]),
                run["seconds"],
            )
            for run in item["runs"]
        )
        return Result(Implementation(**item["squarer"]), runs)

    return Verdict(
        TESTS,
        tuple(data["tests"]),
        tuple(map(result, data["wheats"])),
        tuple(map(result, data["chaffs"])),
        data["seconds"],
    )


def _result(
    settings: Settings, score: float, output: str, *, failed: bool
) -> TestResult:
    points = settings.points.partB
    return TestResult(
        "partB squarer tests (wheats and chaffs)",
        "2.1",
        score,
        points,
        "failed" if failed else "passed",
        output,
        settings.visibility.partB,
    )
