"""``python -m grading selfcheck``: prove that the grader grades what it should.

Theory of operation
-------------------
Four kinds of check, each a row of the table printed at the end:

* **reference**: the instructor tree's ``partA/server.py`` and
  ``partB/test_squarer.py`` (and ``partC/server.py`` when the settings grade
  partC), graded as a student's submission, earn full marks.
* **mutant**: each broken server of ``server_mutants.CAUGHT_BY`` is graded
  as a submission (the reference file with the mutant appended and bound to
  the name ``KeyValueServer``), on the graded tests of the suite meant to
  catch it only, and must lose points there. Its failure message should
  hold the phrase ``CAUGHT_BY`` gives; a row says so when it does not.
* **partC mutant** (when the settings grade partC): likewise for each broken
  server of ``partc_mutants.CAUGHT_BY``, as ``partC/server.py`` beside the
  reference partA server, graded on its suite alone.
* **chaff**: the reference squarer tests are valid on every wheat and catch
  every chaff (the ``squarer-tests`` verdict).
* **stubs**: the handout's untouched stubs get 0 for partA, fast.

Every grading goes through ``grade_submission``, sandbox and all. The checks
run ``jobs`` at a time. Mutants are graded with short deadlines
(``MUTANT_RUNS``), since the hung ones only wait for them.
"""

from __future__ import annotations

import argparse
import ast
import functools
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grading.proof import partc_mutants, server_mutants

from grading import squarer_tests
from grading.student_edition.handout import build_handout
from grading.settings import merge as merge_settings
from grading.settings import add_option, load_for, load_settings, read_table

KIT_ROOT = Path(__file__).resolve().parents[2]
SERVER, TESTS = "partA/server.py", "partB/test_squarer.py"
PARTC_SERVER = "partC/server.py"
STUBS_LIMIT = 60.0  # seconds: the stubs must have failed partA by then
MUTANT_RUNS = {"reply_seconds": 4, "call_seconds": 3, "test_seconds": 30}


@dataclass(frozen=True)
class Check:
    """One row of the table."""

    kind: str  # "reference", "mutant", "chaff", "stubs"
    name: str
    passed: bool
    detail: str
    seconds: float


# The checks.


def check_reference(overrides: dict[str, Any] | None = None) -> list[Check]:
    """The reference, graded as a submission, earns every point."""
    started = time.monotonic()
    partC = load_settings(overrides=overrides).partC.enabled
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as folder:
        submission = submission_of(Path(folder), _read(SERVER), _read(TESTS))
        if partC:
            submission_of(submission, partC=_read(PARTC_SERVER))
        report = _grade(submission, overrides)
    missed = [t for t in report.tests if t.score < t.max_score]
    detail = f"{report.score:g}/{report.max_score:g}"
    if missed:
        detail += "; lost points on " + ", ".join(_short(t) for t in missed)
        said = (missed[0].output or report.output).strip().splitlines()
        detail += f"; first: {said[0][:200] if said else 'no output'}"
        if getattr(report, "status", "") == "grader failed":
            detail += "\n" + report.output  # the grader's own traceback
    full = report.score >= report.max_score and not missed
    return [Check("reference", "reference", full, detail, _since(started))]


def check_mutant(name: str, overrides: dict[str, Any] | None = None) -> list[Check]:
    """The mutant loses points on the suite that ``CAUGHT_BY`` names."""
    started = time.monotonic()
    suite, phrase = server_mutants.CAUGHT_BY[name]
    partA = _suite_points(suite, overrides)
    if not partA:
        return [Check("mutant", name, False, f"no graded test in {suite}", 0.0)]
    settings = merge_settings(
        overrides or {},
        {"points": {"partA": partA, "partB": 0, "format": 0}, "runs": MUTANT_RUNS},
    )
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as folder:
        submission = submission_of(Path(folder), mutant_source(name), _read(TESTS))
        report = _grade(submission, settings)
    return [_caught("mutant", name, suite, phrase, report, started)]


def check_partc_mutant(
    name: str, overrides: dict[str, Any] | None = None
) -> list[Check]:
    """The partC mutant loses points on the suite that ``CAUGHT_BY`` names."""
    started = time.monotonic()
    suite, phrase = partc_mutants.CAUGHT_BY[name]
    stem = suite.removesuffix(".py")
    suites = load_settings(overrides=overrides).partC.suites
    points = {s.name: (s.points if s.name == stem else 0) for s in suites}
    if not points.get(stem):
        return [Check("partC mutant", name, False, f"{suite} is not graded", 0.0)]
    settings = merge_settings(
        overrides or {},
        {
            "points": {"partA": {}, "partB": 0, "format": 0},
            "partC": {"enabled": True, "points": points},
            "runs": MUTANT_RUNS,
        },
    )
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as folder:
        submission = submission_of(Path(folder), _read(SERVER), _read(TESTS))
        submission_of(submission, partC=partc_mutant_source(name))
        report = _grade(submission, settings)
    return [_caught("partC mutant", name, suite, phrase, report, started)]


def _caught(
    kind: str, name: str, suite: str, phrase: str, report: Any, started: float
) -> Check:
    """Did the mutant lose points, and does a failure message say ``phrase``?"""
    graded = [t for t in report.tests if t.max_score > 0]
    lost = [t for t in graded if t.score < t.max_score]
    if not lost:
        detail = f"{suite}: kept every point ({_sum(graded)}): NOT CAUGHT"
        return Check(kind, name, False, detail, _since(started))
    said = any(phrase in t.output for t in lost)
    detail = f"{suite}: lost {_lost(lost)} on {', '.join(_short(t) for t in lost)}"
    detail += "" if said else f" (but no message says {phrase!r})"
    return Check(kind, name, True, detail, _since(started))


def check_chaffs(jobs: int = 2) -> list[Check]:
    """The reference tests are valid, and catch every chaff."""
    verdict = squarer_tests.run_squarer_tests(KIT_ROOT / TESTS, jobs=jobs)
    seconds = verdict.seconds
    rows = [
        Check(
            "wheats",
            "reference tests",
            verdict.valid,
            "valid on every wheat" if verdict.valid else _invalid(verdict),
            seconds,
        )
    ]
    for result in verdict.chaffs:
        detail = (
            "caught by " + ", ".join(result.caught_by)
            if result.caught
            else f"MISSED (failed {result.failed_runs} of {len(result.runs)} runs)"
        )
        rows.append(Check("chaff", result.squarer.name, result.caught, detail, 0.0))
    if verdict.valid and not verdict.chaffs:
        rows.append(Check("chaff", "(none)", False, "no chaff was run", 0.0))
    return rows


def check_stubs(overrides: dict[str, Any] | None = None) -> list[Check]:
    """The handout's stubs get 0 for partA, within STUBS_LIMIT seconds."""
    started = time.monotonic()
    settings = merge_settings(overrides or {}, {"points": {"partB": 0, "format": 0}})
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as folder:
        handout = Path(folder) / "handout"
        build_handout(handout)
        report = _grade(handout, settings)
    seconds = _since(started)
    scored = [t for t in report.tests if t.score > 0]
    fast = seconds <= STUBS_LIMIT
    detail = f"partA {_sum(report.tests, 'score')}/{report.max_score:g}"
    detail += f" in {seconds:.0f} s" + ("" if fast else f" (over {STUBS_LIMIT:g} s)")
    if scored:
        detail += "; points for " + ", ".join(_short(t) for t in scored)
    return [Check("stubs", "handout stubs", fast and not scored, detail, seconds)]


# Helpers.


def mutant_source(name: str) -> str:
    """A server.py that is the reference with mutant ``name`` in its place.

    The mutants' module is appended to the reference (less its imports of the
    reference, which are already there), and ``KeyValueServer`` then names
    the mutant, which the harness loads.
    """
    return _with_mutant(SERVER, "grading/proof/server_mutants.py", name)


def partc_mutant_source(name: str) -> str:
    """A partC/server.py that is partC's reference with mutant ``name`` in its place."""
    return _with_mutant(PARTC_SERVER, "grading/proof/partc_mutants.py", name)


def _with_mutant(server: str, mutants_file: str, name: str) -> str:
    """The reference ``server`` with the module ``mutants_file`` appended (less
    its imports of that reference), and ``KeyValueServer`` bound to ``name``."""
    reference = _read(server)
    mutants = _read(mutants_file)
    module = server.removesuffix(".py").replace("/", ".")
    lines = mutants.splitlines(keepends=True)
    for node in reversed(ast.parse(mutants).body):
        if isinstance(node, ast.ImportFrom) and node.module in {"__future__", module}:
            del lines[node.lineno - 1 : node.end_lineno]
    return (
        f"{reference}\n\n# selfcheck: the broken server {name}, from "
        f"{mutants_file}\n{''.join(lines)}\n\nKeyValueServer = {name}\n"
    )


def _grade(submission: Path, overrides: dict[str, Any] | None) -> Any:
    from grading.submission.grade import grade_submission

    return grade_submission(submission, load_settings(overrides=overrides))


def submission_of(
    folder: Path, server: str | None = None, tests: str | None = None, partC=None
) -> Path:
    """Write the files given into the submission ``folder``."""
    for name, text in ((SERVER, server), (TESTS, tests), (PARTC_SERVER, partC)):
        if text is not None:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def _suite_points(
    suite_file: str, overrides: dict[str, Any] | None = None
) -> dict[str, dict[str, float]]:
    """The settings' partA table, cut down to the tests in ``suite_file``."""
    table: dict[str, dict[str, float]] = {}
    for test in load_settings(overrides=overrides).points.partA:
        if test.file == f"partA/{suite_file}" and test.points > 0:
            table.setdefault(test.suite, {})[test.name] = test.points
    return table


def _read(relative: str) -> str:
    return (KIT_ROOT / relative).read_text(encoding="utf-8")


def _since(started: float) -> float:
    return time.monotonic() - started


def _short(test: Any) -> str:
    return str(test.name).removeprefix("partA ").removeprefix("partC ")


def _sum(tests: list[Any], field: str = "max_score") -> str:
    return f"{sum(getattr(t, field) for t in tests):g}"


def _lost(tests: list[Any]) -> str:
    points = sum(t.max_score - t.score for t in tests)
    return f"{points:g} point" + ("" if points == 1 else "s")


def _invalid(verdict: squarer_tests.Verdict) -> str:
    tests = ", ".join(test or "the file" for test in verdict.invalid_tests)
    return f"NOT VALID: {tests} failed on a wheat"


# Running them all.


def run_selfcheck(
    jobs: int = 2,
    overrides: dict[str, Any] | None = None,
    report: Callable[[list[Check]], None] | None = None,
) -> list[Check]:
    """Run every check, ``jobs`` at a time; the rows in a fixed order.

    ``overrides`` (shaped like settings.toml) apply to every grading;
    ``report`` is called with each check's rows as soon as they are known.
    """
    tasks: dict[tuple[str, str], Callable[[], list[Check]]] = {
        ("reference", "reference"): lambda: check_reference(overrides),
        ("chaff", "reference tests"): lambda: check_chaffs(),
        ("stubs", "handout stubs"): lambda: check_stubs(overrides),
    }
    for name in sorted(server_mutants.CAUGHT_BY):
        tasks["mutant", name] = functools.partial(check_mutant, name, overrides)
    if load_settings(overrides=overrides).partC.enabled:
        for name in sorted(partc_mutants.CAUGHT_BY):
            check = functools.partial(check_partc_mutant, name, overrides)
            tasks["partC mutant", name] = check
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(_guarded, kind, name, task): (kind, name)
            for (kind, name), task in tasks.items()
        }
        if report:
            for future in as_completed(futures):
                report(future.result())
        return [row for future in futures for row in future.result()]


def _guarded(kind: str, name: str, task: Callable[[], list[Check]]) -> list[Check]:
    """The task's rows, or one failed row saying what it raised."""
    started = time.monotonic()
    try:
        return task()
    except Exception as error:  # a check that cannot run has failed
        detail = f"could not run: {type(error).__name__}: {error}"
        return [Check(kind, name, False, detail, _since(started))]


def table(rows: list[Check]) -> str:
    """The rows as a table, with a last line that says pass or fail."""
    kind = max(len(r.kind) for r in rows)
    name = max(len(r.name) for r in rows)
    lines = [f"{'':4}  {'check':<{kind}}  {'what':<{name}}  {'time':>6}  detail"]
    for row in rows:
        mark = "ok" if row.passed else "FAIL"
        seconds = f"{row.seconds:5.1f}s" if row.seconds else ""
        lines.append(
            f"{mark:<4}  {row.kind:<{kind}}  {row.name:<{name}}  {seconds:>6}  "
            f"{row.detail}"
        )
    failed = sum(not row.passed for row in rows)
    verdict = "PASS" if not failed else f"FAIL ({failed} of {len(rows)} checks)"
    return "\n".join([*lines, "", f"selfcheck: {verdict}"])


# The command line.


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``selfcheck`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "selfcheck",
        help="check that the reference passes and every bug is caught",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=2, help="checks at once (default: 2)"
    )
    add_option(parser)
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Run the verb: exit status 0 if every check passed, 1 if not."""
    started = time.monotonic()
    if load_for("selfcheck", args.settings) is None:
        return 2
    # the file's tables, laid over the default settings as every check does
    overrides = read_table(args.settings) if args.settings else None
    print("selfcheck: grading the reference, the mutants, the chaffs and the stubs")
    rows = run_selfcheck(jobs=args.jobs, overrides=overrides, report=_tell)
    print(f"\n{table(rows)} ({time.monotonic() - started:.0f} s)")
    return 0 if all(row.passed for row in rows) else 1


def _tell(rows: list[Check]) -> None:
    for row in rows:
        print(f"  {'ok' if row.passed else 'FAIL'}: {row.kind} {row.name}", flush=True)
