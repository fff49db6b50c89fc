"""Judge a student's squarer tests against wheats and chaffs.

``python -m grading squarer-tests PATH`` runs the tests in PATH (a student's
``partB/test_squarer.py``) and says whether they are valid and which bugs
they catch. ``run_squarer_tests(PATH)`` returns the same verdict as data.
``python -m grading.squarer_tests [PATH]`` is the students' check before
they hand in: this file and the wheats ship in the student tree (the chaffs
do not), and it prints the verdict on validity, in the grade's words, and
how many chaffs the graded run looks for.

Theory of operation
-------------------
A test file is *valid* when every test passes on every run against every
wheat (a correct squarer, grading/squarers/wheat_*.py). A chaff (a squarer
with one bug, grading/squarers/chaff_*.py) is *caught* when some valid test
fails on it, on every run.

Every run is a fresh ``python -m pytest`` process on a fresh copy of the
file, in which the plugin grading/squarer_plugin.py makes ``partB.squarer``
the implementation under test. The runs share a pool of threads, each of
which only waits for its process; since most of a run's time is spent
waiting for squarers, the pool may be larger than the machine's cores.
Each wheat run runs every test. The chaffs start at the same time, on the
guess that every test is valid (a chaff caught by a test that then turns
out invalid is judged again without it), and each chaff run stops at its
first failure: one is enough. A chaff's later runs first try only the test
that caught it, alone; a run that misses the chaff ends its judging.

The wheats' timing makes the verdict the same on a fast machine, a loaded
one and a slow container: the slow wheat pauses, at every step nothing
waits for, longer than a test would sleep, and hardly at all while a test
waits; the eager one moves on before the reader's ``get()`` returns. A
test stopped by pytest-timeout is reported as out of time, with how long it
ran and what to change.

Nothing a test file does can hang or crash the runner: pytest-timeout fails
a test that runs too long, a wall-clock limit kills the whole process group
of a run that still does not end, and the child caps its own CPU time and
file sizes. The plugin writes what happens as it happens, so a run that is
killed, crashes or calls ``os._exit`` still tells which test was running.
"""

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from grading import squarers
from grading.squarers import Implementation
from partB.squarer import SLOWEST_STEP_SECONDS

KIT_ROOT = Path(__file__).resolve().parent.parent
# What the judge runs from, besides grading/squarers/: the grader copies these
# out of the instructor tree (judge_partB), and the student tree ships them
# with the wheats (handout), so that students can check their tests.
FILES = (
    "grading/__init__.py",
    "grading/squarer_tests.py",
    "grading/squarer_plugin.py",
    "partB/__init__.py",
    "partB/squarer.py",
)
FILE_NAME = "test_squarer.py"  # what the copy is called in each run's folder
STOP_POLL_SECONDS = 0.2  # how often a run looks whether it is still needed
JOBS = 8  # runs at once: they mostly wait, so 8 suit 2 cores and 0.5 CPU alike


@dataclass(frozen=True)
class Limits:
    """How long and how much one run may take."""

    test_seconds: float = 10.0  # one test (pytest-timeout)
    run_seconds: float = 90.0  # the whole run, then its processes are killed
    cpu_seconds: int = 60
    max_bytes: int = 20_000_000  # the largest file the run may write


@dataclass(frozen=True)
class Failure:
    """One thing that went wrong in a run, in words a student understands."""

    test: str  # the test's name, or "" when the file as a whole failed
    message: str


@dataclass(frozen=True)
class Run:
    """One run of the student's tests against one squarer."""

    squarer: str
    number: int  # 1, 2, ...
    tests: tuple[str, ...]  # the tests that started, in order
    failures: tuple[Failure, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Result:
    """All the runs against one wheat or chaff."""

    squarer: Implementation
    runs: tuple[Run, ...]

    @property
    def failed_runs(self) -> int:
        return sum(not run.passed for run in self.runs)

    @property
    def caught(self) -> bool:
        """For a chaff: some test failed on every run."""
        return bool(self.runs) and self.failed_runs == len(self.runs)

    @property
    def caught_by(self) -> tuple[str, ...]:
        """The tests that failed, in any run."""
        names = (f.test for run in self.runs for f in run.failures if f.test)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Verdict:
    """Whether a test file is valid, and which chaffs it catches."""

    path: str
    tests: tuple[str, ...]  # every test that ran against a wheat
    wheats: tuple[Result, ...]
    chaffs: tuple[Result, ...]  # empty when no test was valid
    seconds: float

    @property
    def valid(self) -> bool:
        return all(result.failed_runs == 0 for result in self.wheats)

    @property
    def invalid_tests(self) -> dict[str, tuple[Run, Failure]]:
        """Each test that failed on a wheat (or "" for the whole file): where, how."""
        found: dict[str, tuple[Run, Failure]] = {}
        for result in self.wheats:
            for run in result.runs:
                for failure in run.failures:
                    found.setdefault(failure.test, (run, failure))
        return found

    @property
    def caught(self) -> int:
        return sum(result.caught for result in self.chaffs)


def run_squarer_tests(
    path: str | Path,
    *,
    wheats: Sequence[Implementation] | None = None,
    chaffs: Sequence[Implementation] | None = None,
    wheat_runs: int | None = None,
    chaff_runs: int = 2,
    jobs: int = JOBS,
    limits: Limits | None = None,
) -> Verdict:
    """Run the tests in ``path`` against the wheats, then the chaffs.

    ``wheats`` and ``chaffs`` default to all of grading/squarers; each wheat
    gets its own ``runs`` unless ``wheat_runs`` says otherwise. ``jobs`` runs
    go at once: most of a run's time is spent waiting for squarers, not
    computing, so more jobs than cores still saves time.
    """
    started = time.monotonic()
    limits = limits or Limits()
    source = Path(path).read_bytes()  # read once: later edits change nothing
    wheats = squarers.wheats() if wheats is None else wheats
    chaffs = squarers.chaffs() if chaffs is None else chaffs
    stop = threading.Event()  # set when no chaff needs judging any more
    judge = functools.partial(_judge_chaff, source, chaff_runs, limits, stop)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run") as pool:
        by_length = sorted(wheats, key=lambda wheat: -(wheat_runs or wheat.runs))
        wheat_runs_ = {
            wheat: [
                pool.submit(_run_once, source, wheat, n, limits, stop=None)
                for n in range(1, (wheat_runs or wheat.runs) + 1)
            ]
            for wheat in by_length
        }
        # The chaffs start at once too, on the guess that every test is valid;
        # a chaff caught by a test that turns out invalid is judged again.
        chaff_jobs = [pool.submit(judge, chaff, ()) for chaff in chaffs]
        wheat_results = tuple(
            Result(wheat, tuple(run.result() for run in runs))
            for wheat, runs in wheat_runs_.items()
        )
        tests = tuple(dict.fromkeys(t for r in wheat_results for t in _tests_of(r)))
        invalid = {f.test for r in wheat_results for f in _failures_of(r)}
        chaff_results: tuple[Result, ...] = ()
        if "" in invalid or (tests and set(tests) <= invalid):  # nothing valid
            stop.set()
        else:
            chaff_results = tuple(job.result() for job in chaff_jobs)
            again = [r.squarer for r in chaff_results if set(r.caught_by) & invalid]
            redo = [pool.submit(judge, chaff, sorted(invalid)) for chaff in again]
            chaff_results = _replace(chaff_results, [job.result() for job in redo])
    return Verdict(
        str(path), tests, wheat_results, chaff_results, time.monotonic() - started
    )


def _judge_chaff(
    source: bytes,
    runs: int,
    limits: Limits,
    stop: threading.Event,
    chaff: Implementation,
    deselect: Sequence[str],
) -> Result:
    """Up to ``runs`` runs against ``chaff``, without the tests in ``deselect``.

    Each run stops at its first failure: one is enough to catch a chaff. A
    run that passes ends the judging (the chaff is missed: it was not caught
    on every run). A later run first tries only the test that failed in the
    run before it; if that test alone passes, the whole file runs again.
    """
    done: list[Run] = []
    for number in range(1, runs + 1):
        if stop.is_set() or (done and done[-1].passed):
            break
        failed = done[-1].failures[0].test if done else ""
        run = None
        if failed:
            run = _run_once(source, chaff, number, limits, stop, only=failed)
        if run is None or run.passed:
            run = _run_once(source, chaff, number, limits, stop, deselect, first=True)
        done.append(run)
    return Result(chaff, tuple(done))


def _replace(results: tuple[Result, ...], new: list[Result]) -> tuple[Result, ...]:
    newer = {result.squarer: result for result in new}
    return tuple(newer.get(result.squarer, result) for result in results)


def _tests_of(result: Result) -> Iterable[str]:
    return (test for run in result.runs for test in run.tests)


def _failures_of(result: Result) -> Iterable[Failure]:
    return (failure for run in result.runs for failure in run.failures)


def _run_once(
    source: bytes,
    squarer: Implementation,
    number: int,
    limits: Limits,
    stop: threading.Event | None,
    deselect: Sequence[str] = (),
    *,
    first: bool = False,
    only: str = "",
) -> Run:
    """One fresh pytest process on a fresh copy of the tests.

    ``first``: stop at the first failure. ``only``: run that test alone.
    ``stop``: kill the run as soon as it is set.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="squarer-run-") as folder:
        work = Path(folder)
        (work / FILE_NAME).write_bytes(source)
        (work / "pytest.ini").write_text("[pytest]\n")  # and no other config
        events = work / "events.jsonl"
        command = _pytest_command(limits, deselect, first, only)
        environment = _environment(squarer, number, events, limits)
        with open(work / "output.txt", "wb") as output:
            returncode = _run_contained(
                command, work, environment, output, limits, stop
            )
        tail = (work / "output.txt").read_bytes()[-1500:].decode(errors="replace")
        tests, failures = _read_events(events, returncode, limits, tail)
    failures = tuple(  # the student knows their file, not our folder
        Failure(f.test, f.message.replace(f"{folder}{os.sep}", "")) for f in failures
    )
    return Run(squarer.name, number, tests, failures, time.monotonic() - started)


def _pytest_command(
    limits: Limits, deselect: Sequence[str], first: bool, only: str
) -> list[str]:
    target = f"{FILE_NAME}::{only}" if only else FILE_NAME
    command = [sys.executable, "-m", "pytest", target, "-q", "--no-header"]
    command += ["-p", "pytest_timeout", "-p", "grading.squarer_plugin"]
    command += ["-p", "no:cacheprovider", "--timeout", str(limits.test_seconds)]
    command += ["-W", "error::pytest.PytestUnhandledThreadExceptionWarning"]
    command += [f"--deselect={FILE_NAME}::{test}" for test in deselect]
    return command + (["-x"] if first else [])


def _environment(
    squarer: Implementation, number: int, events: Path, limits: Limits
) -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("PYTEST_ADDOPTS", None)
    paths = [str(KIT_ROOT), environment.get("PYTHONPATH", "")]
    return environment | {
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "PYTHONDONTWRITEBYTECODE": "1",  # leave the kit's folders as they are
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only the plugins we name
        "SQUARER_UNDER_TEST": squarer.module,
        "SQUARER_SEED": str(number - 1),
        "SQUARER_EVENTS": str(events),
        "SQUARER_CPU_SECONDS": str(limits.cpu_seconds),
        "SQUARER_MAX_BYTES": str(limits.max_bytes),
    }


def _run_contained(
    command: list[str],
    cwd: Path,
    environment: dict[str, str],
    output,
    limits: Limits,
    stop: threading.Event | None,
) -> int | None:
    """Run ``command`` in a process group of its own; None if it was killed
    late, or because ``stop`` was set.

    Whatever happens, no process of the group outlives this call.
    """
    child = subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + limits.run_seconds
    returncode: int | None = None
    while returncode is None and (left := deadline - time.monotonic()) > 0:
        if stop is not None and stop.is_set():
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            returncode = child.wait(timeout=min(left, STOP_POLL_SECONDS))
    _kill_group(child)
    child.wait()
    return returncode


def _kill_group(child: subprocess.Popen) -> None:
    if not hasattr(os, "killpg"):  # Windows, where a student may check: no groups
        child.kill()
        return
    with contextlib.suppress(ProcessLookupError):  # all of them ended already
        os.killpg(child.pid, signal.SIGKILL)


def _read_events(
    events: Path, returncode: int | None, limits: Limits, tail: str
) -> tuple[tuple[str, ...], tuple[Failure, ...]]:
    """The tests that started and what went wrong, from the plugin's events."""
    lines = events.read_text().splitlines() if events.exists() else []
    records = [json.loads(line) for line in lines if line.endswith("}")]
    tests, failures, running = [], [], ""
    finished: int | None = None
    for record in records:
        test = record.get("test", "").removeprefix(f"{FILE_NAME}::")
        if record["event"] == "start":
            tests.append(test)
            running = test
        elif record["event"] == "end":
            running = ""
        elif record["event"] == "collect-error":
            message = f"your test file could not be loaded:\n{record['message']}"
            failures.append(Failure("", message))
        elif record["event"] == "report" and record["outcome"] == "failed":
            message = _ran_out_of_time(record, limits) or record["message"]
            failures.append(Failure(test, _phase(record) + message))
        elif record["event"] == "finished":
            finished = record["exitstatus"]
    ending = _abnormal_end(returncode, finished, running, limits, tail, failures)
    return tuple(tests), tuple(failures + ending)


def _ran_out_of_time(record: dict, limits: Limits) -> str:
    """What to say of a test that pytest-timeout stopped ("" if it did not)."""
    if not record.get("timed_out"):
        return ""
    lines = [
        "ran out of time: still running when it reached the limit of one test",
        f"on a correct squarer ({limits.test_seconds:g} s).",
        "Does it wait for ever (a get() or join() without a timeout)? Or for many",
        "steps that nothing waits on (a correct squarer may pause up to "
        f"{SLOWEST_STEP_SECONDS:g} s before each)?",
        "Make it move fewer values, or wait on the output (receive(), a get()",
        "with a timeout) instead of sleeping or watching only the input.",
    ]
    return "\n".join(lines + record.get("where", []))


def _phase(record: dict) -> str:
    return "" if record["when"] == "call" else f"(in {record['when']}) "


def _abnormal_end(
    returncode: int | None,
    finished: int | None,
    running: str,
    limits: Limits,
    tail: str,
    failures: list[Failure],
) -> list[Failure]:
    """A Failure for a run that did not end as pytest runs end, if it did not."""
    if returncode is None:
        where = "after its tests finished" if finished is not None else "while it ran"
        message = (
            f"the run was stopped {where}: it took longer than "
            f"{limits.run_seconds:g} s, the limit of the whole file on one "
            f"squarer (a test that never ends, or a thread your tests started "
            f"that never ends?)"
        )
        return [Failure(running, message)]
    if finished is None:
        how = _how_it_ended(returncode)
        message = (
            f"the test process {how} before pytest finished: a test must not "
            f"end the process (os._exit, a signal, or a limit of "
            f"{limits.cpu_seconds} s of CPU or {limits.max_bytes} bytes of output)"
        )
        return [Failure(running, message)]
    if finished in (0, 5) or failures:  # 5: no tests, which is no failure
        return []
    return [Failure("", f"pytest ended with status {finished}:\n{tail}")]


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def judge_child() -> None:
    """``python -c "...; judge_child()" TESTS VERDICT OPTIONS``: what grade.py
    runs in the sandbox: judge TESTS, write the verdict to VERDICT as JSON.

    OPTIONS is a JSON object: wheat_runs, chaff_runs, jobs, and the Limits.
    """
    path, verdict_file, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    limits = Limits(
        test_seconds=options["test_seconds"],
        run_seconds=options["run_seconds"],
        cpu_seconds=options["cpu_seconds"],
        max_bytes=options["max_bytes"],
    )
    verdict = run_squarer_tests(
        path,
        wheat_runs=options["wheat_runs"],
        chaff_runs=options["chaff_runs"],
        jobs=options["jobs"],
        limits=limits,
    )
    Path(verdict_file).write_text(json.dumps(dataclasses.asdict(verdict)))


# The command line.


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``squarer-tests`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "squarer-tests",
        help="judge a student's squarer tests against wheats and chaffs",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("path", type=Path, help="the test file, e.g. test_squarer.py")
    parser.add_argument(
        "--hints", action="store_true", help="show each missed bug's hint"
    )
    parser.add_argument(
        "--names", action="store_true", help="name each bug (for instructors)"
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument(
        "--wheat-runs", type=int, help="runs per wheat (default: each wheat's RUNS)"
    )
    parser.add_argument(
        "--chaff-runs",
        type=int,
        default=2,
        help="runs per chaff, each of which must catch it (default: 2)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=JOBS, help=f"runs at once (default: {JOBS})"
    )
    parser.add_argument(
        "--test-seconds",
        type=float,
        default=Limits.test_seconds,
        help=f"time limit of one test (default: {Limits.test_seconds:g})",
    )
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Run the verb; exit status 0 if the tests are valid, 1 if not."""
    if not args.path.is_file():
        print(f"no such file: {args.path}", file=sys.stderr)
        return 2
    verdict = run_squarer_tests(
        args.path,
        wheat_runs=args.wheat_runs,
        chaff_runs=args.chaff_runs,
        jobs=args.jobs,
    )
    if args.json:
        summary = {"valid": verdict.valid, "caught": verdict.caught}
        print(json.dumps(summary | dataclasses.asdict(verdict), indent=2))
    else:
        print(describe(verdict, hints=args.hints, names=args.names))
    return 0 if verdict.valid else 1


def describe(verdict: Verdict, *, hints: bool = False, names: bool = False) -> str:
    """The verdict in words, for the student (``names``: for the instructor)."""
    lines = [_header(verdict), ""] + _describe_validity(verdict)
    lines += [""] + _describe_chaffs(verdict, hints=hints, names=names)
    lines += ["", f"({verdict.seconds:.1f} s)"]
    return "\n".join(lines)


def _header(verdict: Verdict) -> str:
    return f"Squarer tests in {verdict.path}: {len(verdict.tests)} tests"


def _describe_validity(verdict: Verdict) -> list[str]:
    runs = sum(len(result.runs) for result in verdict.wheats)
    if verdict.valid:
        return [
            f"VALID: every test passed on every correct squarer "
            f"({len(verdict.wheats)} squarers, {runs} runs)."
        ]
    lines = [
        "NOT VALID: your tests fail on a correct squarer, so they are wrong,",
        "whatever bugs they catch. A correct squarer may pause up to "
        f"{SLOWEST_STEP_SECONDS:g} s before",
        "each step nothing waits on, and may differ in anything the contract",
        "does not promise.",
    ]
    for test, (run, failure) in verdict.invalid_tests.items():
        for number, wheat in enumerate(_wheats_failed(verdict, test)):
            failed = sum(any(f.test == test for f in r.failures) for r in wheat.runs)
            lines += [
                f"  {test or 'The file'} failed on the wheat '{wheat.squarer.name}' "
                f"in {failed} of {len(wheat.runs)} runs",
                f"  ('{wheat.squarer.name}' is {wheat.squarer.about})",
            ]
            if number == 0:
                lines += [f"  Run {run.number} said:"]
                lines += [f"      {line}" for line in failure.message.splitlines()[:12]]
    return lines


def _wheats_failed(verdict: Verdict, test: str) -> list[Result]:
    """The wheats on which ``test`` failed in some run, in the verdict's order."""
    return [
        result
        for result in verdict.wheats
        if any(f.test == test for run in result.runs for f in run.failures)
    ]


def _describe_chaffs(verdict: Verdict, *, hints: bool, names: bool) -> list[str]:
    if not verdict.chaffs:
        return ["Bugs caught: none checked, since no test is valid."]
    lines = [f"Bugs caught: {verdict.caught} of {len(verdict.chaffs)}"]
    if not verdict.valid:
        lines[0] += " by your valid tests (not counted until every test is valid)"
    for number, result in enumerate(verdict.chaffs, start=1):
        label = f"bug {number:2}" + (f" ({result.squarer.name})" if names else "")
        if result.caught:
            lines.append(
                f"  {label}  caught in {len(result.runs)} of {len(result.runs)} runs "
                f"by {', '.join(result.caught_by)}"
            )
        elif result.failed_runs:
            lines.append(
                f"  {label}  MISSED: caught in {result.failed_runs} of "
                f"{len(result.runs)} runs only; a test must catch it every time"
            )
        else:
            lines.append(f"  {label}  MISSED")
        if hints and not result.caught:
            lines.append(f"           hint: {result.squarer.hint}")
    return lines


# The student's check before handing in: ``python -m grading.squarer_tests``.


def check(argv: list[str] | None = None) -> int:
    """Judge a student's tests against every correct squarer, as the grader does.

    Prints the grader's own words on their validity, and how many bugs the
    graded run looks for (not which: the buggy squarers are not handed out).
    Exit status 0 if the tests are valid, 1 if not, 2 if there is no file.
    """
    parser = argparse.ArgumentParser(
        prog="python -m grading.squarer_tests",
        description="Run your squarer tests against the correct squarers, as "
        "the grader does, and print its verdict on their validity.",
    )
    default = Path("partB") / FILE_NAME
    parser.add_argument(
        "path", nargs="?", type=Path, default=default, help=f"default: {default}"
    )
    args = parser.parse_args(argv)
    if not args.path.is_file():
        print(f"no such file: {args.path}", file=sys.stderr)
        return 2
    verdict = run_squarer_tests(args.path, chaffs=[])
    print(describe_check(verdict, squarers.graded_chaffs()))
    return 0 if verdict.valid else 1


def describe_check(verdict: Verdict, bugs: int) -> str:
    """The check's verdict: as the grade says it, with the bugs counted, not named."""
    lines = [_header(verdict), ""] + _describe_validity(verdict)
    lines += [
        "",
        f"The graded run also looks for {bugs} bugs, each in a buggy squarer that",
        "is not handed out. Part B scores only when the tests are VALID, and then",
        "by how many of those bugs some test catches on every run.",
        "",
        f"({verdict.seconds:.1f} s)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(check())
