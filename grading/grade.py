"""``python -m grading grade SUBMISSION``: grade one student's submission.

``grade_submission(path)`` returns a ``GradeReport``; ``write_results()``
writes it as Gradescope's results.json.

Theory of operation
-------------------
A submission is a folder or a zip holding ``partA/server.py`` and
``partB/test_squarer.py`` (also found at the top, or one folder down), and
``partC/server.py`` when the settings turn partC on. Only those files are
read from it, each capped in size; a zip with a name that climbs out of its
folder, an absolute name or a symbolic link is refused as a whole, and so is
a submission that holds none of the files (the report's ``status`` is then
"refused", in results.json's ``extra_data``).

The grader builds the pristine student kit (``build_handout``) in a fresh
folder, lays the two files over it, and grades four things:

* partA: the suites named in the settings, in one pytest process in the
  sandbox (grading/sandbox.py). A small plugin writes each outcome as it
  happens, so if the process hangs, crashes or is killed, the tests that
  finished keep their result and the others get 0 with what happened.
* partC (when the settings turn it on): its graded suites, likewise, after
  partA; one entry per suite, its points split among its tests.
* partB: ``run_squarer_tests`` (grading/squarer_tests.py) on the student's
  tests, itself run in the sandbox: their tests are code too. The judge runs
  from a folder of its own that holds only what it needs (the squarers, the
  plugin, the student's file), never from the instructor tree.
* format: ``ruff format --check`` on the two files (ruff only reads them).
* the course rules: an AST scan of server.py for forbidden names (locks,
  processes, ...), each use reported with its line.

partA and partB run at the same time, each in a sandbox of its own with its
own wall clock, so the grader ends in bounded time whatever a submission
does, and the report always says what happened. No sandboxed run sees the
instructor tree (the reference solutions) or another run's folder: they are
hidden in its mount namespace (``sandbox.run(hidden=...)``), and on
Gradescope the tree is also closed to the sandbox's user.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grading import sandbox
from grading.handout import build_handout
from grading.settings import PartATest, PartCSuite, Settings, load_settings

KIT_ROOT = Path(__file__).resolve().parent.parent
SERVER, TESTS = "partA/server.py", "partB/test_squarer.py"
PARTC_SERVER = "partC/server.py"
MAX_MEMBERS = 10_000  # entries in a zip, or files in a folder, looked at
OUTPUT_CHARS = 4000  # of a run's output kept in the report


class SubmissionError(ValueError):
    """A submission that cannot be graded at all; the message says why."""


# ----- the report ---------------------------------------------------------------


@dataclass
class TestResult:
    """One line of the grade: a test, or a part graded as one."""

    name: str
    number: str
    score: float
    max_score: float
    status: str  # "passed" or "failed"
    output: str
    visibility: str = "visible"


@dataclass
class GradeReport:
    """The grade of one submission."""

    submission: str
    score: float
    max_score: float
    tests: list[TestResult]
    execution_time: float
    output: str
    stdout_visibility: str = "hidden"
    isolation: list[str] = field(default_factory=list)  # one line per sandbox
    # "graded"; "refused": nothing in it could be graded (a bad zip, no files);
    # "grader failed": the grader's own bug
    status: str = "graded"

    def to_gradescope(self) -> dict:
        """The report as Gradescope's results.json object."""
        return {
            "score": round(self.score, 2),
            "execution_time": round(self.execution_time, 1),
            "output": self.output,
            "stdout_visibility": self.stdout_visibility,
            "extra_data": {"status": self.status},
            "tests": [
                {
                    "name": test.name,
                    "number": test.number,
                    "score": round(test.score, 2),
                    "max_score": test.max_score,
                    "status": test.status,
                    "output": test.output,
                    "visibility": test.visibility,
                }
                for test in self.tests
            ],
        }

    def table(self) -> str:
        """The grade as a table a person reads, one line per test."""
        width = max([len(test.name) for test in self.tests] + [10])
        status = "" if self.status == "graded" else f" ({self.status.upper()})"
        lines = [f"Grade of {self.submission}{status}", ""]
        for test in self.tests:
            mark = "ok  " if test.status == "passed" else "FAIL"
            first = test.output.splitlines()[0] if test.output else ""
            points = f"{_points(test.score)}/{_points(test.max_score)}"
            lines.append(f"{mark} {test.name:<{width}} {points:>7}  {first[:70]}")
        lines += [
            "",
            f"Total: {_points(self.score)} / {_points(self.max_score)}"
            f"   ({self.execution_time:.1f} s)",
        ]
        return "\n".join(lines + [f"Sandbox: {line}" for line in self.isolation])


# CPython 3.11's ast.parse is not safe in two threads at once (it can raise
# "SystemError: AST constructor recursion depth mismatch"), and partA and
# partB are graded in two threads: they take turns to parse.
_PARSING = threading.Lock()


def _points(value: float) -> str:
    return f"{value:g}"


def write_results(report: GradeReport, path: Path | str) -> None:
    """Write ``report`` as Gradescope's results.json, in one go."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(report.to_gradescope(), indent=2) + "\n")
    partial.replace(path)


# ----- grading ------------------------------------------------------------------


def grade_submission(submission: Path, settings: Settings | None = None) -> GradeReport:
    """Grade the folder or zip ``submission``; never raises for what it holds.

    A submission that cannot be read, or a failure of the grader itself,
    gives a report in which every test has 0 points and says why.
    """
    started = time.monotonic()
    settings = settings or load_settings()
    submission = Path(submission)
    status = "graded"
    try:
        files, notes = collect(submission, settings)
        if all(content is None for content in files.values()):
            raise SubmissionError(
                "none of the files to grade is in it:\n" + "\n".join(notes)
            )
        tests, isolation = _grade_files(files, notes, settings)
        output = "\n".join(notes)
    except SubmissionError as error:
        tests, isolation = _all_failed(settings, f"not graded: {error}"), []
        output = f"The submission could not be graded: {error}"
        status = "refused"
    except Exception:  # the grader's own bug: still a report, saying so
        detail = traceback.format_exc(limit=8)
        tests, isolation = _all_failed(settings, "not graded: the grader failed"), []
        output = f"The grader failed (not your fault; tell the staff):\n{detail}"
        status = "grader failed"
    report = _report(submission, settings, tests, isolation, output, started)
    report.status = status
    return report


def _report(
    submission: Path,
    settings: Settings,
    tests: list[TestResult],
    isolation: list[str],
    output: str,
    started: float,
) -> GradeReport:
    score = max(sum(test.score for test in tests), 0.0)
    report = GradeReport(
        submission=str(submission),
        score=score,
        max_score=settings.max_score,
        tests=tests,
        execution_time=time.monotonic() - started,
        output="",
        stdout_visibility=settings.visibility.stdout,
        isolation=isolation,
    )
    summary = f"Score: {_points(score)} / {_points(settings.max_score)}"
    contained = "\n".join(f"Sandbox: {line}" for line in isolation)
    report.output = "\n\n".join(p for p in (summary, output, contained) if p)
    return report


def _grade_files(
    files: dict[str, bytes | None], notes: list[str], settings: Settings
) -> tuple[list[TestResult], list[str]]:
    with tempfile.TemporaryDirectory(prefix="p0-grade-") as folder:
        work = Path(folder)
        kit = work / "kit"
        build_handout(kit, partC=settings.partC.enabled, ruff_format=False)
        for name, content in files.items():
            if content is not None:
                (kit / name).write_bytes(content)
        plugins = work / "plugins"
        plugins.mkdir()
        shutil.copy(Path(__file__).with_name("outcome_plugin.py"), plugins)
        for tree in (kit, plugins):
            sandbox.open_to_all(tree)
        for name in RUN_FOLDERS[2:]:  # all there before any run hides the others
            _scratch(work / name)
        os.chmod(work, 0o755)
        with ThreadPoolExecutor(2, thread_name_prefix="grade") as pool:
            servers = pool.submit(_grade_servers, work, files, notes, settings)
            partB = pool.submit(_grade_partB, work, files[TESTS], notes, settings)
            format_ = _grade_format(kit, files, notes, settings)
            rules = _grade_rules(files[SERVER], settings)
            if settings.partC.enabled:
                rules += _grade_rules(files[PARTC_SERVER], settings, PARTC_SERVER)
            (testsA, linesA), (testsB, isolationB) = servers.result(), partB.result()
    isolation = [line for line in (*linesA, isolationB) if line]
    return testsA + testsB + format_ + rules, isolation


# The folders of the grade's work folder, each seen by the runs that need it.
RUN_FOLDERS = ("kit", "plugins", "partA-out", "partC-out", "partB-out", "partB-judge")


def _hidden(work: Path, *mine: str) -> list[Path]:
    """What a sandboxed run must not see: the instructor tree (here, and where
    Gradescope puts it), and every folder of ``work`` but ``mine``."""
    gradescope = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")) / "source"
    trees = [KIT_ROOT, gradescope]
    trees += [work / name for name in RUN_FOLDERS if name not in mine]
    return list(dict.fromkeys(tree.resolve() for tree in trees if tree.is_dir()))


def _grade_servers(
    work: Path, files: dict[str, bytes | None], notes: list[str], settings: Settings
) -> tuple[list[TestResult], list[str]]:
    """partA's suites, then partC's (when on): one after the other."""
    tests, lineA = _grade_partA(work, files[SERVER], notes, settings)
    if not settings.partC.enabled:
        return tests, [lineA]
    testsC, lineC = _grade_partC(work, files, notes, settings)
    return tests + testsC, [lineA, lineC]


def _all_failed(settings: Settings, why: str) -> list[TestResult]:
    """Every test the settings grade, with 0 points and ``why``."""
    tests = [
        _failed(settings, test, number, why) for number, test in _numbered(settings)
    ]
    tests += [
        _suite_result(settings, suite, number, 0, why)
        for number, suite in _numbered_suites(settings)
    ]
    if settings.points.partB:
        tests.append(_partB_result(settings, 0, why, failed=True))
    if settings.points.format:
        tests.append(_format_result(settings, False, why))
    return tests


def _numbered(settings: Settings) -> list[tuple[str, PartATest]]:
    graded = [test for test in settings.points.partA if test.points]
    return [(f"1.{n}", test) for n, test in enumerate(graded, start=1)]


def _failed(settings: Settings, test: PartATest, number: str, why: str) -> TestResult:
    return TestResult(
        _name(test), number, 0, test.points, "failed", why, settings.visibility.tests
    )


def _name(test: PartATest) -> str:
    return f"partA {test.suite}.{test.name}"


# ----- the submission's files ---------------------------------------------------


def collect(
    submission: Path, settings: Settings
) -> tuple[dict[str, bytes | None], list[str]]:
    """The files to grade of ``submission`` (None if missing), and notes on them.

    Raises ``SubmissionError`` if the submission cannot be read at all, or
    is a zip with a name that climbs out of its folder or a link.
    """
    cap = settings.sandbox.submission_kib * 1024
    wanted = (SERVER, TESTS, *([PARTC_SERVER] if settings.partC.enabled else []))
    if submission.is_dir():
        members = _folder_members(submission)
        read = _reader_of_folder(submission, cap)
        return _pick(members, read, wanted)
    if zipfile.is_zipfile(submission):
        with zipfile.ZipFile(submission) as archive:
            members = _zip_members(archive, settings.sandbox.zip_mib * 1024 * 1024)
            return _pick(members, _reader_of_zip(archive, cap), wanted)
    if submission.exists():
        raise SubmissionError(f"{submission.name} is neither a folder nor a zip file")
    raise SubmissionError(f"{submission} does not exist")


def _pick(
    members: list[str], read, names: tuple[str, ...]
) -> tuple[dict[str, bytes | None], list[str]]:
    files: dict[str, bytes | None] = {}
    notes: list[str] = []
    for wanted in names:
        # partC/server.py alone would be taken for partA's: never look for it bare
        found = _find(members, wanted, bare=wanted != PARTC_SERVER)
        if found is None:
            notes.append(_missing(wanted, members))
            files[wanted] = None
            continue
        if found != wanted:
            notes.append(f"{wanted}: graded {found}")
        try:
            files[wanted] = read(found)
        except SubmissionError as error:
            notes.append(f"{wanted}: {error}")
            files[wanted] = None
    return files, notes


def _find(members: list[str], wanted: str, bare: bool = True) -> str | None:
    """Where ``wanted`` is: as is, one folder down, or bare (also one down)."""
    usable = [m for m in members if not any(_dotted(p) for p in m.split("/"))]
    name = PurePosixPath(wanted).name
    ways = [
        lambda m: m == wanted,
        lambda m: m.count("/") == 2 and m.split("/", 1)[1] == wanted,
    ]
    if bare:
        ways += [
            lambda m: m == name,
            lambda m: m.count("/") == 1 and m.split("/")[1] == name,
        ]
    for matches in ways:
        found = sorted(m for m in usable if matches(m))
        if found:
            return found[0]
    return None


def _dotted(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _missing(wanted: str, members: list[str]) -> str:
    shown = ", ".join(sorted(members)[:15]) or "nothing"
    more = f" and {len(members) - 15} more" if len(members) > 15 else ""
    alone = (
        "" if wanted == PARTC_SERVER else f", and {PurePosixPath(wanted).name} alone"
    )
    return (
        f"{wanted}: MISSING. Looked for {wanted} at the top of the submission, "
        f"one folder down{alone}; the submission holds: {shown}{more}"
    )


def _folder_members(folder: Path) -> list[str]:
    members = []
    for root, folders, names in os.walk(folder):  # links to folders: not followed
        folders[:] = sorted(folders)
        for name in names:
            members.append((Path(root) / name).relative_to(folder).as_posix())
            if len(members) > MAX_MEMBERS:
                raise SubmissionError(f"it holds over {MAX_MEMBERS} files")
    return members


def _reader_of_folder(folder: Path, cap: int):
    def read(member: str) -> bytes:
        path = folder / member
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
            raise SubmissionError(f"{member} is a link or not a regular file; not read")
        if path.lstat().st_size > cap:
            raise SubmissionError(f"{member} is over {cap // 1024} KiB; not read")
        return path.read_bytes()

    return read


def _zip_members(archive: zipfile.ZipFile, total_cap: int) -> list[str]:
    """The names of the zip's files, after checking every entry is safe."""
    entries = archive.infolist()
    if len(entries) > MAX_MEMBERS:
        raise SubmissionError(f"the zip holds over {MAX_MEMBERS} entries")
    for entry in entries:
        name = entry.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise SubmissionError(f"the zip holds an absolute name: {name!r}")
        if ".." in parts:
            raise SubmissionError(
                f"the zip holds a name that climbs out of its folder: {name!r}"
            )
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise SubmissionError(f"the zip holds a symbolic link: {name!r}")
    total = sum(entry.file_size for entry in entries)
    if total > total_cap:
        raise SubmissionError(
            f"the zip holds {total // 2**20} MiB uncompressed, over the limit "
            f"of {total_cap // 2**20} MiB"
        )
    return [e.filename.removeprefix("./") for e in entries if not e.is_dir()]


def _reader_of_zip(archive: zipfile.ZipFile, cap: int):
    def read(member: str) -> bytes:
        entry = next(
            e for e in archive.infolist() if e.filename.removeprefix("./") == member
        )
        if entry.file_size > cap:
            raise SubmissionError(f"{member} is over {cap // 1024} KiB; not read")
        with archive.open(entry) as source:
            content = source.read(cap + 1)
        if len(content) > cap:
            raise SubmissionError(f"{member} is over {cap // 1024} KiB; not read")
        return content

    return read


def _syntax_error(content: bytes, name: str) -> str | None:
    """Why ``content`` does not compile, or None."""
    try:
        with _PARSING:
            ast.parse(content, filename=name)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "somewhere"
        return f"{name} does not compile: {error.msg} at {where}"
    except ValueError as error:  # e.g. a NUL byte
        return f"{name} does not compile: {error}"
    return None


# ----- partA --------------------------------------------------------------------


def _grade_partA(
    work: Path, server: bytes | None, notes: list[str], settings: Settings
) -> tuple[list[TestResult], str]:
    numbered = _numbered(settings)
    if not numbered:
        return [], ""
    if server is None:
        why = f"not run: there is no {SERVER} in the submission"
        return [_failed(settings, t, n, why) for n, t in numbered], ""
    if error := _syntax_error(server, SERVER):
        return [_failed(settings, t, n, f"not run: {error}") for n, t in numbered], ""
    nodeids = [test.nodeid for _, test in numbered]
    records, outcome = _run_suites(
        work, "partA", nodeids, settings.runs.partA_seconds, settings
    )
    results = _partA_results(settings, numbered, records, outcome)
    _note_run(notes, "partA", results, outcome)
    return results, _isolation_line("partA", outcome)


def _run_suites(
    work: Path, part: str, nodeids: list[str], seconds: float, settings: Settings
) -> tuple[list[dict], sandbox.Outcome]:
    """One pytest process on the kit in the sandbox: its events and outcome."""
    out = work / f"{part}-out"
    events = out / "events.jsonl"
    outcome = sandbox.run(
        _pytest_command(settings, nodeids),
        cwd=work / "kit",
        env=_environment(settings, out, [work / "kit", work / "plugins"])
        | {
            "GRADE_EVENTS": str(events),
            "KV_REPLY_TIMEOUT": str(settings.runs.reply_seconds),
            "KV_CALL_TIMEOUT": str(settings.runs.call_seconds),
            "HYPOTHESIS_STORAGE_DIRECTORY": str(out / "hypothesis"),
        },
        limits=sandbox.Limits.from_settings(settings.sandbox, seconds),
        writable=[out],
        hidden=_hidden(work, out.name, "kit", "plugins"),
        **_who(settings),
    )
    return _read_events(events), outcome


def _note_run(
    notes: list[str], part: str, results: list[TestResult], outcome: sandbox.Outcome
) -> None:
    """Say in the report's notes how a run that went wrong ended."""
    if any(test.status == "failed" for test in results) and not outcome.ok:
        notes.append(f"The {part} test process {outcome.describe()}.")
    if outcome.truncated:
        notes.append(
            f"{part} printed {outcome.output_bytes} bytes; only the first and last "
            f"{outcome.limits.output_bytes // 2} were kept."
        )
    if outcome.output_bytes and not outcome.ok:
        notes.append(f"Its output ended with:\n{outcome.output[-OUTPUT_CHARS:]}")


def _scratch(folder: Path) -> Path:
    """A folder for one sandbox's files, with a tmp folder inside."""
    (folder / "tmp").mkdir(parents=True)
    return folder


def _pytest_command(settings: Settings, nodeids: list[str]) -> list[str]:
    command = [sys.executable, "-m", "pytest", *nodeids]
    command += [
        "-p",
        "pytest_timeout",
        "-p",
        "outcome_plugin",
        "-p",
        "no:cacheprovider",
    ]
    command += ["--timeout", str(settings.runs.test_seconds), "--timeout-method=signal"]
    return command + ["-q", "--no-header", "-s", "-o", "console_output_style=classic"]


def _environment(settings: Settings, out: Path, path: list[Path]) -> dict[str, str]:
    """A small, known environment: nothing of the grader's leaks in."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.defpath]),
        "HOME": str(out),
        "TMPDIR": str(out / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(map(str, path)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "MALLOC_ARENA_MAX": "2",  # threads reserve less address space
    }


def _who(settings: Settings) -> dict:
    box = settings.sandbox
    return {
        "network": box.network,
        "user": box.user,
        "uid_base": box.uid_base,
        "uid_count": box.uid_count,
    }


def _read_events(events: Path) -> list[dict]:
    records = []
    try:
        lines = events.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut short when the process died
    return records


def _partA_results(
    settings: Settings,
    numbered: list[tuple[str, PartATest]],
    records: list[dict],
    outcome: sandbox.Outcome,
) -> list[TestResult]:
    started = {r["test"] for r in records if r.get("event") == "start"}
    ended = {r["test"] for r in records if r.get("event") == "end"}
    failures: dict[str, list[str]] = {}
    passed = set()
    for record in records:
        if record.get("event") == "report":
            if record.get("outcome") == "failed":
                phase = "" if record["when"] == "call" else f"(in {record['when']}) "
                failures.setdefault(record["test"], []).append(
                    phase + record["message"]
                )
            elif record.get("outcome") == "passed":
                passed.add(record["test"])
        elif record.get("event") == "collect-error":
            failures.setdefault("", []).append(record.get("message", ""))
    ended_how = outcome.describe()
    results = []
    for number, test in numbered:
        node = test.nodeid
        if node in failures:
            why = "\n".join(failures[node])
        elif node in passed and node in ended:
            results.append(
                TestResult(
                    _name(test),
                    number,
                    test.points,
                    test.points,
                    "passed",
                    "passed",
                    settings.visibility.tests,
                )
            )
            continue
        elif node in started:
            why = (
                f"this test was running when the test process {ended_how} "
                "(a hang, a crash, or a limit reached)"
            )
        elif "" in failures:
            why = "not run: the suite could not be loaded:\n" + "\n".join(failures[""])
        else:
            why = (
                f"did not run: the submission hung or crashed before this test "
                f"(the test process {ended_how})"
            )
        results.append(_failed(settings, test, number, why))
    return results


def _isolation_line(part: str, outcome: sandbox.Outcome) -> str:
    iso = outcome.isolation
    what = [
        f"user {iso.user}",
        "network: loopback only" if iso.network else "network: NOT isolated",
        "own PID namespace" if iso.pids else "no PID namespace",
    ]
    notes = f" ({'; '.join(iso.notes)})" if iso.notes else ""
    return f"{part}: {', '.join(what)}{notes}"


# ----- partC --------------------------------------------------------------------


def _numbered_suites(settings: Settings) -> list[tuple[str, PartCSuite]]:
    if not settings.partC.enabled:
        return []
    graded = [suite for suite in settings.partC.suites if suite.points]
    return [(f"5.{n}", suite) for n, suite in enumerate(graded, start=1)]


def _grade_partC(
    work: Path, files: dict[str, bytes | None], notes: list[str], settings: Settings
) -> tuple[list[TestResult], str]:
    numbered = _numbered_suites(settings)
    if not numbered:
        return [], ""
    for name in (PARTC_SERVER, SERVER):  # partC's server extends partA's
        why = None
        if files.get(name) is None:
            why = f"not run: there is no {name} in the submission"
            if name == PARTC_SERVER:
                why += " (partC is graded: hand it in with partA/server.py)"
        elif error := _syntax_error(files[name], name):
            why = f"not run: {error}"
        if why:
            return [_suite_result(settings, s, n, 0, why) for n, s in numbered], ""
    nodeids = [suite.file for _, suite in numbered]
    records, outcome = _run_suites(
        work, "partC", nodeids, settings.partC.seconds, settings
    )
    results = [
        _partC_result(settings, number, suite, records, outcome)
        for number, suite in numbered
    ]
    _note_run(notes, "partC", results, outcome)
    return results, _isolation_line("partC", outcome)


def _partC_result(
    settings: Settings,
    number: str,
    suite: PartCSuite,
    records: list[dict],
    outcome: sandbox.Outcome,
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
    verdicts = _verdicts(records, outcome)
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
        return _suite_result(settings, suite, number, 0, why)
    score = round(suite.points * len(passed) / len(collected), 2)
    lines = [f"{len(passed)} of {len(collected)} tests passed"]
    for test in failed:
        why = verdicts.get(test, f"did not run (the test process {outcome.describe()})")
        lines.append(f"\n{test.removeprefix(mine)}: {why}")
    return _suite_result(
        settings, suite, number, score, "\n".join(lines)[:OUTPUT_CHARS]
    )


def _verdicts(records: list[dict], outcome: sandbox.Outcome) -> dict[str, str]:
    """Each test that started: "passed", or why it did not pass (in words)."""
    started, ended, passed = set(), set(), set()
    failures: dict[str, list[str]] = {}
    for record in records:
        event, test = record.get("event"), record.get("test", "")
        if event == "start":
            started.add(test)
        elif event == "end":
            ended.add(test)
        elif event == "report" and record.get("outcome") == "failed":
            phase = "" if record["when"] == "call" else f"(in {record['when']}) "
            failures.setdefault(test, []).append(phase + record["message"])
        elif event == "report" and record.get("outcome") == "passed":
            passed.add(test)
    verdicts = {}
    for test in started:
        if test in failures:
            verdicts[test] = "\n".join(failures[test])
        elif test in passed and test in ended:
            verdicts[test] = "passed"
        else:
            verdicts[test] = (
                f"this test was running when the test process {outcome.describe()} "
                "(a hang, a crash, or a limit reached)"
            )
    return verdicts


def _suite_result(
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


# ----- partB --------------------------------------------------------------------


def _grade_partB(
    work: Path, tests: bytes | None, notes: list[str], settings: Settings
) -> tuple[list[TestResult], str]:
    if not settings.points.partB:
        return [], ""
    if tests is None:
        why = f"not run: there is no {TESTS} in the submission"
        return [_partB_result(settings, 0, why, failed=True)], ""
    if error := _syntax_error(tests, TESTS):
        return [_partB_result(settings, 0, f"not run: {error}", failed=True)], ""
    out = work / "partB-out"
    judge = _judge_folder(work / "partB-judge", tests)
    verdict_file = out / "verdict.json"
    runs = settings.runs
    options = {
        "wheat_runs": runs.partB_wheat_runs or None,
        "chaff_runs": runs.partB_chaff_runs,
        "jobs": runs.partB_jobs,
        "test_seconds": runs.partB_test_seconds,
        "run_seconds": runs.partB_run_seconds,
        "cpu_seconds": settings.sandbox.cpu_seconds,
        "max_bytes": settings.sandbox.file_size_mib * 2**20,
    }
    command = [
        sys.executable,
        "-c",
        "from grading.squarer_tests import judge_child; judge_child()",
    ]
    command += [str(judge / JUDGED), str(verdict_file), json.dumps(options)]
    outcome = sandbox.run(
        command,
        cwd=out,
        env=_environment(settings, out, [judge]),
        limits=sandbox.Limits.from_settings(settings.sandbox, runs.partB_seconds),
        writable=[out],
        hidden=_hidden(work, "partB-out", "partB-judge"),
        **_who(settings),
    )
    return [_partB_score(settings, verdict_file, outcome, notes)], _isolation_line(
        "partB", outcome
    )


# What the partB judge runs from: the squarers and the plugin (grading/), the
# given squarer (partB/), and the student's tests, copied out of the instructor
# tree, so that the student's tests, run by the judge, cannot read the rest.
JUDGE_FILES = (
    "grading/__init__.py",
    "grading/squarer_tests.py",
    "grading/squarer_plugin.py",
    "partB/__init__.py",
    "partB/squarer.py",
)
JUDGED = "test_squarer.py"  # the student's tests, in the judge's folder


def _judge_folder(judge: Path, tests: bytes) -> Path:
    """A folder, readable by all, writable by none, to run the judge from."""
    squarers = sorted((KIT_ROOT / "grading" / "squarers").glob("*.py"))
    for source in [KIT_ROOT / name for name in JUDGE_FILES] + squarers:
        target = judge / source.relative_to(KIT_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (judge / JUDGED).write_bytes(tests)
    sandbox.open_to_all(judge)
    return judge


def _partB_score(
    settings: Settings, verdict_file: Path, outcome: sandbox.Outcome, notes: list[str]
) -> TestResult:
    from grading.squarer_tests import describe

    try:
        verdict = _verdict_from(json.loads(verdict_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        tail = outcome.output[-OUTPUT_CHARS:]
        why = (
            f"your tests could not be judged: the judging process {outcome.describe()}"
            + (f"\nIts output ended with:\n{tail}" if tail else "")
        )
        return _partB_result(settings, 0, why, failed=True)
    points = settings.points.partB
    score = (
        round(points * verdict.caught / len(verdict.chaffs), 2)
        if (verdict.valid and verdict.chaffs)
        else 0
    )
    text = describe(verdict)
    return _partB_result(settings, score, text, failed=score < points)


def _verdict_from(data: dict):
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


def _partB_result(
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


# ----- format and rules ---------------------------------------------------------


def _grade_format(
    kit: Path, files: dict[str, bytes | None], notes: list[str], settings: Settings
) -> list[TestResult]:
    if not settings.points.format:
        return []
    missing = [name for name in (SERVER, TESTS) if files.get(name) is None]
    if missing:
        return [_format_result(settings, False, f"not checked: missing {missing[0]}")]
    command = [
        sys.executable,
        "-m",
        "ruff",
        "format",
        "--check",
        "--diff",
        "--no-cache",
    ]
    try:
        done = subprocess.run(
            [*command, SERVER, TESTS],
            cwd=kit,
            capture_output=True,
            timeout=settings.runs.format_seconds,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return [_format_result(settings, False, "ruff did not finish in time")]
    text = (done.stdout + done.stderr).decode(errors="replace")[:OUTPUT_CHARS]
    if done.returncode == 0:
        return [
            _format_result(settings, True, "both files are formatted (ruff format)")
        ]
    advice = "Run `ruff format partA/server.py partB/test_squarer.py`. ruff says:\n"
    return [_format_result(settings, False, advice + text)]


def _format_result(settings: Settings, ok: bool, output: str) -> TestResult:
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


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    name: str  # the forbidden name used, e.g. "threading.Lock"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: uses {self.name}"


def find_violations(
    source: bytes | str, forbidden: tuple[str, ...], file: str = SERVER
) -> list[Violation]:
    """Each use of a forbidden name in ``source`` (which must compile)."""
    scanner = _Scanner(forbidden)
    with _PARSING:
        tree = ast.parse(source)
    scanner.visit(tree)
    found = {Violation(file, line, name) for line, name in scanner.found}
    return sorted(found, key=lambda v: (v.line, v.name))


class _Scanner(ast.NodeVisitor):
    """Follows imports and aliases to the full names that code uses."""

    def __init__(self, forbidden: tuple[str, ...]) -> None:
        self.forbidden = forbidden
        self.aliases: dict[str, str] = {}  # local name -> full name
        self.found: list[tuple[int, str]] = []

    def check(self, node: ast.AST, name: str) -> None:
        for rule in self.forbidden:
            if rule.endswith("*"):
                hit = name.startswith(rule[:-1])
            else:
                hit = name == rule or name.startswith(rule + ".")
            if hit:
                self.found.append((node.lineno, name))
                return

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check(node, alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self.check(node, module if alias.name == "*" else full)
            self.aliases[alias.asname or alias.name] = full

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases:
            self.check(node, self.aliases[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self.full_name(node)
        if full is not None:
            self.check(node, full)
        else:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        target = self.full_name(node.func)
        texts = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if target in ("__import__", "importlib.import_module") and texts:
            self.check(node, str(texts[0]))
        elif target == "getattr" and len(node.args) > 1 and texts:
            owner = self.full_name(node.args[0])
            if owner is not None:
                self.check(node, f"{owner}.{texts[0]}")
        self.generic_visit(node)

    def full_name(self, node: ast.AST) -> str | None:
        """``t.Lock`` with ``import threading as t`` -> "threading.Lock"."""
        if isinstance(node, ast.Name):
            return self.aliases.get(
                node.id, node.id if node.id in ("__import__", "getattr") else None
            )
        if isinstance(node, ast.Attribute):
            owner = self.full_name(node.value)
            return None if owner is None else f"{owner}.{node.attr}"
        return None


def _grade_rules(
    server: bytes | None, settings: Settings, file: str = SERVER
) -> list[TestResult]:
    rules = settings.rules
    name = "course rules (no locks, no processes: threads and queues only)"
    number = "4.1"
    if file != SERVER:
        name, number = f"course rules ({file})", "4.2"
    if server is None or _syntax_error(server, file):
        return [
            TestResult(
                name,
                number,
                0,
                0,
                "passed",
                f"not checked: no {file} that compiles",
                settings.visibility.tests,
            )
        ]
    violations = find_violations(server, rules.forbidden, file)
    if not violations:
        return [
            TestResult(
                name,
                number,
                0,
                0,
                "passed",
                f"{file}: no forbidden names",
                settings.visibility.tests,
            )
        ]
    names = sorted({v.name for v in violations})
    penalty = min(len(names) * rules.points_per_violation, rules.max_penalty)
    cost = (
        f"-{_points(penalty)} points"
        if rules.costs_points
        else "no points taken (reported only)"
    )
    lines = [f"Forbidden by the course rules ({cost}):"] + [
        f"  {v}" for v in violations
    ]
    score = -penalty if rules.costs_points else 0
    return [
        TestResult(
            name,
            number,
            score,
            0,
            "failed",
            "\n".join(lines),
            settings.visibility.tests,
        )
    ]


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
    parser.add_argument(
        "--settings", type=Path, help="a settings file (default: grading/settings.toml)"
    )
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Grade, print the table, write the results; 0 unless the grader failed."""
    try:
        settings = load_settings(args.settings)
    except ValueError as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    report = grade_submission(args.submission, settings)
    print(report.table())
    write_results(report, args.results)
    print(f"Wrote {args.results}")
    return 0
