"""``python -m grading grade SUBMISSION``: grade one student's submission.

``grade_submission(path)`` returns a ``GradeReport`` (grading/submission/report.py);
each platform's writer turns it into its file: Gradescope's results.json
(grading/platforms/gradescope.py, which ``grade --results`` writes), PrairieLearn's
(grading/platforms/prairielearn.py), and the terminal table (``report.table``).

Theory of operation
-------------------
The grader reads the submission's files (grading/submission/intake.py), builds the
pristine student kit (``build_handout``) in a fresh work folder, lays the
files over it, and runs four judges, each in a module of its own:

* partA (grading/submission/judge_partA.py): the graded tests of the classic suites,
  in one pytest process in the sandbox (grading/submission/sandbox.py, through
  grading/submission/runs.py). A small plugin writes each outcome as it happens, so if
  the process hangs, crashes or is killed, the tests that finished keep
  their result and the others get 0 with what happened.
* partC (grading/submission/judge_partC.py, when the settings turn it on): its graded
  suites, likewise, after partA.
* partB (grading/submission/judge_partB.py): the student's tests against wheats and
  chaffs, in a sandbox of its own, from a folder that holds only what the
  judge needs.
* format (grading/submission/judge_format.py): ``ruff format --check`` on the two files.

and the course rules (grading/submission/rules.py), an AST scan of each server.

partA and partB run at the same time, each with its own wall clock, and
every run ends by the grader's own deadline (``[runs] total_seconds``), so
the grader ends in bounded time whatever a submission does, and the report
always says what happened. No sandboxed run sees the instructor tree or
another run's folder.

What goes wrong with the grader itself is not the student's fault, and the
report keeps it apart (``GradeReport.faults``): a missing tool gives the
points it would have checked; a grader that cannot run the suites at all
(no pytest, a sandbox that cannot be set up, a bug of ours) makes no grade
("grader failed"), and the platform is told so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading.submission import (
    judge_format,
    judge_partA,
    judge_partB,
    judge_partC,
    reuse,
    rules,
    runs,
    sandbox,
)
from grading.platforms.gradescope import write_results
from grading.student_edition.handout import build_handout
from grading.submission.intake import (
    PARTC_SERVER,
    SERVER,
    TESTS,
    SubmissionError,
    collect,
    same_code,
)
from grading.submission.report import (
    GRADED,
    GRADER_FAILED,
    REFUSED,
    STAFF,
    GradeReport,
    TestResult,
    points,
    table,
)
from grading.settings import TEST_TOOLS, Settings, load_for, load_settings
from grading.settings import add_option as settings_option

__all__ = ["grade_submission", "write_results", "GradeReport", "TestResult"]

TOOLS = TEST_TOOLS  # the grader's Python must have them


class GraderFault(RuntimeError):
    """The grader cannot grade at all; the message says why, for the staff."""


def grade_submission(
    submission: Path, settings: Settings | None = None, before: Path | None = None
) -> GradeReport:
    """Grade the folder or zip ``submission``; never raises for what it holds.

    A submission that cannot be read gives a report in which every test has
    0 points and says why ("refused"); a grader that cannot grade gives one
    that says it is not a grade ("grader failed"). ``before``: the results
    file of an earlier grading of this submission; each part that nothing it
    depends on has changed for is kept from it, not graded again
    (grading/submission/reuse.py).
    """
    started = time.monotonic()
    settings = settings or load_settings()
    submission = Path(submission)
    status, faults, parts, kept, staff = GRADED, [], {}, {}, []
    try:
        _check_tools()
        files, notes = collect(submission, settings)
        if all(content is None for content in files.values()):
            raise SubmissionError(
                "none of the files to grade is in it:\n" + "\n".join(notes)
            )
        job = runs.Job(Path(), settings, started + settings.runs.total_seconds, notes)
        staff = job.staff
        parts = reuse.digests(files, settings)
        kept = reuse.kept(before, parts)
        tests, isolation = _grade_files(job, files, faults, kept)
        output = "\n".join(notes)
    except SubmissionError as error:
        tests, isolation = _all_failed(settings, f"not graded: {error}"), []
        output = f"The submission could not be graded: {error}"
        status = REFUSED
    except Exception as error:  # the grader's own fault: still a report, saying so
        why = (
            str(error) if isinstance(error, GraderFault | sandbox.SandboxError) else ""
        )
        faults.append(why or traceback.format_exc(limit=8))
        not_graded = f"NOT GRADED: the grader failed ({STAFF})"
        tests, isolation = _all_failed(settings, not_graded), []
        output = f"{not_graded}. This is not your grade."
        status = GRADER_FAILED
    report = _report(
        submission, settings, tests, isolation, output, started, status, faults
    )
    report.parts, report.kept = parts, sorted(kept)
    report.staff_output = "\n\n".join(staff)
    return report


def _check_tools() -> None:
    missing = [name for name in TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        raise GraderFault(
            f"{', '.join(missing)} not installed for {sys.executable}: "
            "install the kit's test tools (pip install -e '.[test]')"
        )


def _report(
    submission: Path,
    settings: Settings,
    tests: list[TestResult],
    isolation: list[str],
    output: str,
    started: float,
    status: str,
    faults: list[str],
) -> GradeReport:
    score = max(sum(test.score for test in tests), 0.0)
    summary = f"Score: {points(score)} / {points(settings.max_score)}"
    if faults and status == GRADED:
        summary += f"\n(The grader had a fault of its own; {STAFF}.)"
    return GradeReport(
        submission=str(submission),
        score=score,
        max_score=settings.max_score,
        tests=tests,
        execution_time=time.monotonic() - started,
        output="\n\n".join(part for part in (summary, output) if part),
        stdout_visibility=settings.visibility.stdout,
        isolation=isolation,
        status=status,
        faults=faults,
    )


def _grade_files(
    job: runs.Job,
    files: dict[str, bytes | None],
    faults: list[str],
    kept: dict[str, list[TestResult]],
) -> tuple[list[TestResult], list[str]]:
    settings = job.settings
    with tempfile.TemporaryDirectory(prefix="p0-grade-") as folder:
        job.work = work = Path(folder)
        kit = work / "kit"
        build_handout(
            kit, partC=settings.partC.enabled, ruff_format=False, settings=settings
        )
        untouched = _untouched(kit, files)
        for name, content in files.items():
            if content is not None:
                (kit / name).write_bytes(content)
        plugins = work / "plugins"
        plugins.mkdir()
        for plugin in runs.PLUGINS:
            shutil.copy(Path(__file__).with_name(plugin), plugins)
        for tree in (kit, plugins):
            sandbox.open_to_all(tree)
        for name in runs.RUN_FOLDERS[2:]:  # all there before any run hides the others
            runs.scratch(work / name)
        os.chmod(work, 0o755)
        with ThreadPoolExecutor(2, thread_name_prefix="grade") as pool:
            servers = pool.submit(_grade_servers, job, files, kept)
            if TESTS in untouched:
                partB = pool.submit(
                    lambda: (judge_partB.all_failed(settings, untouched[TESTS]), "")
                )
            else:
                partB = pool.submit(
                    _or_kept, kept, "partB", judge_partB.grade, job, files[TESTS]
                )
            if SERVER in untouched:
                format_ = judge_format.all_failed(settings, untouched[SERVER])
            elif "format" in kept:
                format_ = kept["format"]
            else:
                format_ = judge_format.grade(job, kit, files, faults)
            checked = rules.grade(files[SERVER], settings)
            if settings.partC.enabled:
                checked += rules.grade(files[PARTC_SERVER], settings, PARTC_SERVER)
            (testsA, linesA), (testsB, lineB) = servers.result(), partB.result()
    isolation = [line for line in (*linesA, lineB) if line]
    tests = testsA + testsB + format_ + checked
    for test in tests:  # what the student reads names no path of the grader's
        test.output = runs.scrub(test.output, work)
    job.notes[:] = [runs.scrub(note, work) for note in job.notes]
    return tests, isolation


def _untouched(kit: Path, files: dict[str, bytes | None]) -> dict[str, str]:
    """The files handed in as they were handed out, each with why it earns
    nothing: the starter tests earn no partB points (what they catch is not
    the student's), an untouched server.py no format point (HANDOUT.md says so)."""
    why = {
        TESTS: "0: partB/test_squarer.py is the starter file as handed out; "
        "part B's points are for tests of your own",
        SERVER: "0: partA/server.py is the stub as handed out; the format point "
        "is for code of your own",
    }
    return {
        name: said
        for name, said in why.items()
        if same_code(files.get(name), (kit / name).read_bytes())
    }


def _grade_servers(
    job: runs.Job, files: dict[str, bytes | None], kept: dict[str, list[TestResult]]
) -> tuple[list[TestResult], list[str]]:
    """partA's suites, then partC's (when on): one after the other."""
    tests, lineA = _or_kept(kept, "partA", judge_partA.grade, job, files[SERVER])
    if not job.settings.partC.enabled:
        return tests, [lineA]
    testsC, lineC = _or_kept(kept, "partC", judge_partC.grade, job, files)
    return tests + testsC, [lineA, lineC]


def _or_kept(kept: dict[str, list[TestResult]], part: str, judge, *args):
    """The part's entries kept from before, or ``judge(*args)``'s."""
    if part in kept:
        return kept[part], f"{part}: kept from an earlier grading (nothing changed)"
    return judge(*args)


def _all_failed(settings: Settings, why: str) -> list[TestResult]:
    """Every test the settings grade, with 0 points and ``why``."""
    judges = (judge_partA, judge_partC, judge_partB, judge_format)
    return [test for judge in judges for test in judge.all_failed(settings, why)]


# ----- the command line ---------------------------------------------------------


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``grade`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "grade",
        help="grade one submission (a folder or a zip); write results.json",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("submission", type=Path, help="a folder or a zip")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results.json"),
        help="where to write Gradescope's results.json (default: %(default)s)",
    )
    settings_option(parser)
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Grade, print the table, write the results; 0 unless the grader failed."""
    settings = load_for("grade", args.settings)
    if settings is None:
        return 2
    report = grade_submission(args.submission, settings)
    print(table(report))
    write_results(report, args.results)
    print(f"Wrote {args.results}")
    return 1 if report.status == GRADER_FAILED else 0
