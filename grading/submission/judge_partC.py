"""partC's judge (when the settings turn partC on): its graded suites.

One entry per suite, worth its points times the share of its tests that
passed, run after partA's in one pytest process in the sandbox. partC's
server extends partA's, so both files must be there and compile.
"""

from __future__ import annotations

from grading.submission import runs
from grading.submission.intake import PARTC_SERVER, SERVER, syntax_error
from grading.submission.report import TestResult
from grading.settings import PartCSuite, Settings


def numbered(settings: Settings) -> list[tuple[str, PartCSuite]]:
    if not settings.partC.enabled:
        return []
    graded = [suite for suite in settings.partC.suites if suite.points]
    return [(f"5.{n}", suite) for n, suite in enumerate(graded, start=1)]


def all_failed(settings: Settings, why: str) -> list[TestResult]:
    return [suite_result(settings, s, n, 0, why) for n, s in numbered(settings)]


def grade(
    job: runs.Job, files: dict[str, bytes | None]
) -> tuple[list[TestResult], str]:
    settings = job.settings
    suites = numbered(settings)
    if not suites:
        return [], ""
    for name in (PARTC_SERVER, SERVER):  # partC's server extends partA's
        why = None
        if files.get(name) is None:
            why = f"not run: there is no {name} in the submission"
            if name == PARTC_SERVER:
                why += " (partC is graded: hand it in with partA/server.py)"
        elif error := syntax_error(files[name], name):
            why = f"not run: {error}"
        if why:
            return all_failed(settings, why), ""
    nodeids = [suite.file for _, suite in suites]
    records, outcome = runs.run_suites(job, "partC", nodeids, settings.partC.seconds)
    results = [
        _result(settings, number, suite, records, outcome) for number, suite in suites
    ]
    runs.note_run(job, "partC", results, outcome)
    return results, runs.isolation_line("partC", outcome)


def _result(
    settings: Settings,
    number: str,
    suite: PartCSuite,
    records: list[dict],
    outcome,
) -> TestResult:
    """One suite's entry: its points times the share of its tests that passed."""
    mine = suite.file + "::"
    collected = [
        test
        for record in records
        if record.get("event") == "collected"
        for test in record.get("tests", [])
        if test.startswith(mine)
    ]
    verdicts = runs.verdicts(records, outcome)
    passed = [test for test in collected if verdicts.get(test) == "passed"]
    failed = [test for test in collected if test not in passed]
    if not collected:
        loading = [
            r.get("message", "")
            for r in records
            if r.get("event") == "collect-error"
            and r.get("test", "").startswith(suite.file)
        ]
        why = (
            "not run: the suite could not be loaded:\n" + "\n".join(loading)
            if loading
            else f"not run: the test process {outcome.describe()} before this suite"
        )
        return suite_result(settings, suite, number, 0, why)
    score = round(suite.points * len(passed) / len(collected), 2)
    lines = [f"{len(passed)} of {len(collected)} tests passed"]
    for test in failed:
        why = verdicts.get(test, f"did not run (the test process {outcome.describe()})")
        lines.append(f"\n{test.removeprefix(mine)}: {why}")
    return suite_result(
        settings, suite, number, score, "\n".join(lines)[: runs.OUTPUT_CHARS]
    )


def suite_result(
    settings: Settings, suite: PartCSuite, number: str, score: float, output: str
) -> TestResult:
    return TestResult(
        f"partC {suite.name}",
        number,
        score,
        suite.points,
        "passed" if score >= suite.points else "failed",
        output,
        settings.visibility.tests,
    )
