"""partA's judge: the graded tests of the classic suites, on the student's server.

Each test named in the settings (``[points.partA.*]``: a suite's class, or
a module for the tests that are its functions) is one entry of the grade,
worth its points if it passed and 0 otherwise, with why in words: its
failure message, or how the test process ended while it ran (a hang, a
crash, a limit), or that it never ran. All of them run in one pytest process
in the sandbox (``runs.run_suites``).
"""

from __future__ import annotations

from grading.submission import runs
from grading.submission.intake import SERVER, syntax_error
from grading.submission.report import TestResult
from grading.settings import CHECKS, PartATest, Settings


def numbered(settings: Settings) -> list[tuple[str, PartATest]]:
    graded = [test for test in settings.points.partA if test.points]
    return [(f"1.{n}", test) for n, test in enumerate(graded, start=1)]


def failed(settings: Settings, test: PartATest, number: str, why: str) -> TestResult:
    return TestResult(
        name(test), number, 0, test.points, "failed", why, settings.visibility.tests
    )


def name(test: PartATest) -> str:
    return f"partA {test.suite}.{test.name}"


def all_failed(settings: Settings, why: str) -> list[TestResult]:
    tests = [failed(settings, test, number, why) for number, test in numbered(settings)]
    return tests + _check_lines(settings, {}, why)


def _own_lines(settings: Settings) -> bool:
    return settings.policy.cross_cutting == "own_lines"


def grade(job: runs.Job, server: bytes | None) -> tuple[list[TestResult], str]:
    """The graded tests' entries, and how the run was contained."""
    settings = job.settings
    tests = numbered(settings)
    if not tests:
        return [], ""
    if server is None:
        return all_failed(
            settings, f"not run: there is no {SERVER} in the submission"
        ), ""
    if error := syntax_error(server, SERVER):
        return all_failed(settings, f"not run: {error}"), ""
    nodeids = [test.nodeid for _, test in tests]
    plugins = ("checks_plugin",) if _own_lines(settings) else ()
    records, outcome = runs.run_suites(
        job, "partA", nodeids, settings.runs.partA_seconds, plugins
    )
    results = _results(settings, tests, runs.verdicts(records, outcome), outcome)
    _attach_pictures(job, results)
    results += _check_lines(settings, runs.checks(records))
    runs.note_run(job, "partA", results, outcome)
    return results, runs.isolation_line("partA", outcome)


def _results(
    settings: Settings,
    tests: list[tuple[str, PartATest]],
    verdicts: dict[str, str],
    outcome,
) -> list[TestResult]:
    results = []
    for number, test in tests:
        verdict = _verdict(verdicts, test.nodeid)
        if verdict == "passed":
            results.append(
                TestResult(
                    name(test),
                    number,
                    test.points,
                    test.points,
                    "passed",
                    "passed",
                    settings.visibility.tests,
                )
            )
            continue
        if verdict is None and "" in verdicts:
            verdict = "not run: the suite could not be loaded:\n" + verdicts[""]
        elif verdict is None:
            verdict = (
                f"did not run: the submission hung or crashed before this test "
                f"(the test process {outcome.describe()})"
            )
        results.append(failed(settings, test, number, verdict))
    return results


CHECK_NAMES = {
    "ownership": "one owner per piece of state (the ownership checker)",
    "joins": "close() joins every thread the server started",
    "sockets": "close() leaves no socket open",
}


def _check_lines(
    settings: Settings,
    said: dict[str, dict[str, list[str]]],
    why: str = "not checked: no graded test reached close()",
) -> list[TestResult]:
    """Under the policy "own_lines", a line of the grade per cross-cutting
    check: its points when it ran in some graded test and failed in none."""
    if not settings.policy.lines(settings):
        return []
    points, first = settings.policy.check_points, len(numbered(settings)) + 1
    lines = []
    for n, check in enumerate(CHECKS, start=first):
        tests = said.get(check, {})
        failures = {test: f for test, f in tests.items() if f}
        if failures:
            test, messages = next(iter(failures.items()))
            output = f"failed in {len(failures)} test(s); in {test}:\n{messages[0]}"
        else:
            output = f"passed in the {len(tests)} graded test(s) that reached close()"
            output = output if tests else why
        ok = bool(tests) and not failures
        lines.append(
            TestResult(
                f"partA check: {CHECK_NAMES[check]}",
                f"1.{n}",
                points if ok else 0,
                points,
                "passed" if ok else "failed",
                output,
                settings.visibility.tests,
            )
        )
    return lines


def _verdict(verdicts: dict[str, str], nodeid: str) -> str | None:
    """The test's verdict; a parametrized test's joins its cases': "passed"
    when every case passed, else each failed case's, named. None: not run."""
    if nodeid in verdicts:
        return verdicts[nodeid]
    cases = {
        test[len(nodeid) :]: verdict
        for test, verdict in verdicts.items()
        if test.startswith(nodeid + "[")
    }
    if not cases:
        return None
    failed = [f"case {case}: {why}" for case, why in cases.items() if why != "passed"]
    return "\n".join(failed) if failed else "passed"


def _attach_pictures(job: runs.Job, results: list[TestResult]) -> None:
    """Name, in each failed test's entry, the failure pictures the harness drew.

    The harness names a picture after its test (its file name ends in the
    test's name). They are read in now: the work folder does not last.
    """
    drawn = runs.pictures(job.work / "partA-out")
    for result in results:
        test = result.name.rpartition(".")[2]
        for page in drawn:
            if not result.passed and named_after(page.stem, test):
                result.pictures[page.name] = page.read_text(errors="replace")
                # the work folder goes: name the copy the staff keep instead
                kept = f"{page.name} (a picture of the failure, kept by the staff)"
                result.output = result.output.replace(str(page), kept)


def named_after(stem: str, test: str) -> bool:
    """Whether a picture's name ends in the test's: "...TestBasic.test_basic1",
    or, drawn for a failure in its setup or teardown, "...test_basic1-teardown"."""
    for phase in ("-setup", "-teardown"):
        stem = stem.removesuffix(phase)
    return stem == test or (stem.endswith(test) and not stem[-len(test) - 1].isalnum())
