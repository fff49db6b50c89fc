"""Tests of ``python -m grading grade``: the reference, the stubs, hostile work.

Every hostile submission is written here into ``tmp_path``. Each is bounded
on its own (its loops end after a minute or a few thousand turns) so that
even a sandbox that failed could not keep these tests running for ever; no
test reaches any address but 127.0.0.1. Every produced results.json is
checked against the fields Gradescope documents.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from grading.submission import intake, rules, sandbox
from grading.submission.grade import GradeReport, grade_submission, write_results
from grading.submission.report import TestResult, table
from grading.student_edition.handout import build_handout
from grading.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_SERVER = (ROOT / "partA" / "server.py").read_text()
REFERENCE_TESTS = (ROOT / "partB" / "test_squarer.py").read_text()
STARTER_TESTS = "def test_two_squares_to_four():\n    assert 2 * 2 == 4\n"

# Short deadlines, and two quick tests, for the submissions that misbehave.
QUICK = {
    "points": {
        "partA": {"TestBasic": {"test_basic1": 1, "test_basic2": 1}},
        "partB": 0,
    },
    "runs": {
        "test_seconds": 10,
        "reply_seconds": 4,
        "call_seconds": 4,
        "partA_seconds": 40,
        "partB_seconds": 60,
        "partB_wheat_runs": 1,
        "partB_chaff_runs": 1,
    },
    "sandbox": {"processes": 64, "output_bytes": 8192, "output_limit_bytes": 81920},
}

# ----- Gradescope's results.json, as its specification lists the fields --------

VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
TOP_FIELDS = {
    "score": (int, float),
    "execution_time": (int, float),
    "output": str,
    "output_format": str,
    "test_output_format": str,
    "test_name_format": str,
    "visibility": str,
    "stdout_visibility": str,
    "extra_data": dict,
    "tests": list,
    "leaderboard": list,
}
TEST_FIELDS = {
    "score": (int, float),
    "max_score": (int, float),
    "status": str,
    "name": str,
    "name_format": str,
    "number": str,
    "output": str,
    "output_format": str,
    "tags": list,
    "visibility": str,
    "extra_data": dict,
}


def gradescope_problems(data: object) -> list[str]:
    """What in ``data`` Gradescope's results.json specification does not allow."""
    if not isinstance(data, dict):
        return ["the results are not a JSON object"]
    problems = _field_problems(data, TOP_FIELDS, "results")
    tests = data.get("tests", [])
    if "score" not in data and not all(
        isinstance(t, dict) and "score" in t for t in tests
    ):
        problems.append("no top-level score, and not every test has one")
    for index, test in enumerate(tests if isinstance(tests, list) else []):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where} is not an object")
            continue
        problems += _field_problems(test, TEST_FIELDS, where)
        if test.get("status") not in (None, "passed", "failed"):
            problems.append(f"{where}.status is {test['status']!r}")
    return problems


def _field_problems(data: dict, fields: dict, where: str) -> list[str]:
    problems = [
        f"{where} has an unknown field {key!r}" for key in data if key not in fields
    ]
    for key, kind in fields.items():
        if key in data and (
            not isinstance(data[key], kind) or isinstance(data[key], bool)
        ):
            problems.append(f"{where}.{key} has the wrong type: {data[key]!r}")
    for key in ("visibility", "stdout_visibility"):
        if key in data and data[key] not in VISIBILITIES:
            problems.append(f"{where}.{key} is {data[key]!r}")
    return problems


def check_results(report: GradeReport, folder: Path) -> dict:
    """Write the report's results.json, read it back, and check it."""
    path = folder / "results.json"
    write_results(report, path)
    data = json.loads(path.read_text())
    assert gradescope_problems(data) == []
    total = max(sum(test["score"] for test in data["tests"]), 0)  # never below 0
    assert data["score"] == pytest.approx(total)
    return data


def test_the_schema_check_finds_what_gradescope_would_reject() -> None:
    bad = {"score": "10", "tests": [{"name": 3, "status": "ok", "colour": 1}]}
    problems = gradescope_problems(bad)
    assert "results.score has the wrong type: '10'" in problems
    assert "tests[0].status is 'ok'" in problems
    assert "tests[0] has an unknown field 'colour'" in problems
    assert "tests[0].name has the wrong type: 3" in problems


# ----- helpers -------------------------------------------------------------------


def submission(folder: Path, server: str | None, tests: str | None) -> Path:
    """A submission folder holding the given files (None: left out)."""
    folder.mkdir(parents=True)
    for name, text in ((intake.SERVER, server), (intake.TESTS, tests)):
        if text is not None:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    return folder


def hostile(tmp_path: Path, patch: str) -> Path:
    """The reference server with ``patch`` appended (it replaces a method)."""
    return submission(tmp_path / "hostile", REFERENCE_SERVER + patch, STARTER_TESTS)


def quick_grade(path: Path) -> tuple[GradeReport, dict, float]:
    started = time.monotonic()
    report = grade_submission(path, load_settings(overrides=QUICK))
    seconds = time.monotonic() - started
    print(table(report))
    return report, check_results(report, path.parent), seconds


def by_name(report: GradeReport) -> dict[str, TestResult]:
    return {test.name: test for test in report.tests}


def partA(report: GradeReport) -> list[TestResult]:
    return [test for test in report.tests if test.name.startswith("partA")]


# ----- the reference and the stubs ---------------------------------------------


def test_the_reference_gets_full_marks(tmp_path: Path) -> None:
    path = submission(tmp_path / "reference", REFERENCE_SERVER, REFERENCE_TESTS)
    settings = load_settings(overrides={"runs": {"test_seconds": 30}})
    report = grade_submission(path, settings)
    print(table(report))
    data = check_results(report, tmp_path)
    assert (report.score, report.max_score) == (16, 16), table(report)
    assert data["score"] == 16
    assert len(data["tests"]) == 13  # 10 of partA, partB, format, rules
    assert report.isolation  # says how each part was contained


def test_a_robustness_test_given_points_is_graded(tmp_path: Path) -> None:
    """A test that is a function of its module, parametrized, is one entry:
    the reference earns it, a server that dies of a bad line does not, and
    its output names the cases that failed."""
    from grading.proof.selfcheck import mutant_source

    robust = {"test_robustness": {"test_bad_line_is_skipped": 2}}
    settings = load_settings(
        overrides={"points": {"partA": robust, "partB": 0, "format": 0}}
    )
    for name, server, score in (
        ("reference", REFERENCE_SERVER, 2),
        ("crashes", mutant_source("CrashesOnBadInput"), 0),
    ):
        path = submission(tmp_path / name, server, STARTER_TESTS)
        report = grade_submission(path, settings)
        (test,) = partA(report)
        assert test.name == "partA test_robustness.test_bad_line_is_skipped"
        assert (test.score, test.max_score) == (score, 2), table(report)
    assert "case [an unknown command: b'Bogus:key:value']: " in test.output


def student_view(report: GradeReport) -> str:
    """Everything of the report that a student reads."""
    return "\n".join([report.output, *(test.output for test in report.tests)])


def test_the_handout_handed_in_untouched_scores_0(tmp_path: Path) -> None:
    """The stub zip: 0/16, the starter tests' catches and the stub's format
    not counted; what the student reads names no grader path and holds no
    raw pytest output, which the staff keep."""
    kit = tmp_path / "handout"
    build_handout(kit)
    handin = tmp_path / "handin.zip"
    with zipfile.ZipFile(handin, "w") as archive:
        for name in (intake.SERVER, intake.TESTS):
            archive.write(kit / name, name)
    report = grade_submission(handin, load_settings())
    data = check_results(report, tmp_path)
    assert (report.score, report.max_score) == (0, 16), table(report)
    tests = by_name(report)
    assert (
        "starter file as handed out"
        in tests["partB squarer tests (wheats and chaffs)"].output
    )
    assert "stub as handed out" in tests["format (ruff format --check)"].output
    seen = student_view(report)
    for raw in ("p0-grade-", "/tmp/", "_ _ _ _", "ERROR at setup", "ended with"):
        assert raw not in seen, f"{raw!r} in what the student reads:\n{seen}"
    assert "ERROR at setup" in data["extra_data"]["raw_output"]


def test_a_stub_with_code_of_ones_own_is_graded(tmp_path: Path) -> None:
    """A comment, a blank line or a docstring is not work; a line of code is."""
    kit = tmp_path / "handout"
    build_handout(kit)
    server, tests = (kit / intake.SERVER).read_text(), (kit / intake.TESTS).read_text()
    settings = load_settings(overrides={"points": {"partA": {}, "partB": 0}})
    for edited, point in (("# mine\n" + server, 0), (server + '\n\nX = "mine"\n', 1)):
        path = submission(tmp_path / str(point), edited, tests)
        (test,) = [
            t for t in grade_submission(path, settings).tests if "format" in t.name
        ]
        assert test.score == point, test.output


@pytest.mark.parametrize(
    ("policy", "scores"),
    [
        ("fail_test", {"partA TestBasic.test_basic1": 0}),
        (
            "own_lines",
            {
                "partA TestBasic.test_basic1": 1,
                "partA check: one owner per piece of state (the ownership checker)": 1,
                "partA check: close() joins every thread the server started": 0,
                "partA check: close() leaves no socket open": 1,
            },
        ),
    ],
)
def test_the_policy_says_how_a_missing_join_counts(
    tmp_path: Path, policy: str, scores: dict[str, float]
) -> None:
    """One missing join(): every test fails ("fail_test"), or the test passes
    and the joins line of the grade is lost ("own_lines"); the stubs earn no
    check line (no test reached close())."""
    from grading.proof.selfcheck import mutant_source

    overrides = {
        "points": {"partA": {"TestBasic": {"test_basic1": 1}}, "partB": 0, "format": 0},
        "policy": {"cross_cutting": policy},
    }
    settings = load_settings(overrides=overrides)
    server = mutant_source("CloseSleepsInsteadOfJoining")
    path = submission(tmp_path / "nojoin", server, STARTER_TESTS)
    report = grade_submission(path, settings)
    assert {t.name: t.score for t in partA(report)} == scores, table(report)
    assert report.max_score == len(scores)
    kit = tmp_path / "handout"
    build_handout(kit)
    assert grade_submission(kit, settings).score == 0


def test_the_handout_stubs_get_nothing_for_partA_fast(tmp_path: Path) -> None:
    kit = tmp_path / "handout"
    build_handout(kit)
    started = time.monotonic()
    settings = load_settings(overrides={"points": {"partB": 0}})
    report = grade_submission(kit, settings)
    seconds = time.monotonic() - started
    check_results(report, tmp_path)
    assert len(partA(report)) == 10
    assert all(test.score == 0 for test in partA(report))
    assert all("NotImplementedError" in test.output for test in partA(report))
    assert seconds < 60


# ----- hostile submissions ------------------------------------------------------

LOOP_IN_START = """
import time as _time

def _start(self, port, host="127.0.0.1"):
    deadline = _time.monotonic() + 60  # bounded, even without a sandbox
    while _time.monotonic() < deadline:
        pass

KeyValueServer.start = _start
"""


CLOSE_NEVER_RETURNS = """
import time as _time

def _close(self):
    _time.sleep(60)  # bounded, even without a sandbox

KeyValueServer.close = _close
"""


@pytest.mark.parametrize(
    ("patch", "says"),
    [
        pytest.param(LOOP_IN_START, "start(0) did not return within 4 s", id="start"),
        pytest.param(
            CLOSE_NEVER_RETURNS, "close() did not return within 4 s", id="close"
        ),
    ],
)
def test_a_call_that_never_returns(tmp_path: Path, patch: str, says: str) -> None:
    report, data, seconds = quick_grade(hostile(tmp_path, patch))
    assert all(test.score == 0 for test in partA(report))
    assert says in partA(report)[0].output
    assert seconds < 60


SPAWNS_PROCESSES = """
import os as _os

def _start(self, port, host="127.0.0.1"):
    spawned = 0
    for _ in range(3000):  # bounded, even without a sandbox
        try:
            child = _os.fork()
        except OSError as error:
            raise RuntimeError(f"spawned {spawned} processes, then: {error}")
        if child == 0:  # a sleep of 60 s that the test can recognise
            _os.execv("/bin/sleep", ["/bin/sleep", "MARK"])
        spawned += 1
    raise RuntimeError(f"spawned {spawned} processes and was never stopped")

KeyValueServer.start = _start
"""


def test_a_server_that_spawns_processes_in_a_loop(tmp_path: Path) -> None:
    mark = f"{random.uniform(59, 60):.9f}"  # seconds to sleep, and our mark
    patch = SPAWNS_PROCESSES.replace("MARK", mark)
    report, data, seconds = quick_grade(hostile(tmp_path, patch))
    message = partA(report)[0].output
    assert all(test.score == 0 for test in partA(report))
    if "uid" in report.isolation[0]:  # the process limit holds for a user of its own
        assert "then: [Errno 11] Resource temporarily unavailable" in message
    assert "processes" in message
    assert not processes_running(mark), "a process of the sandbox outlived the grade"
    assert seconds < 60


def processes_running(mark: str) -> list[str]:
    """The processes whose command line holds ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if mark.encode() in command.split(b"\0"):
            found.append(entry.name)
    return found


PRINTS_100_MB = """
import sys as _sys

_real_start = KeyValueServer.start

def _start(self, port, host="127.0.0.1"):
    line = "spam " * 200_000 + "\\n"  # 1 MB
    for _ in range(100):
        _sys.stdout.write(line)
    return _real_start(self, port, host)

KeyValueServer.start = _start
"""


def test_a_server_that_prints_100_mb(tmp_path: Path) -> None:
    """Stopped once it has printed output_limit_bytes; graded on what it did."""
    report, data, seconds = quick_grade(hostile(tmp_path, PRINTS_100_MB))
    stopped = "stopped: printed more than 81920 bytes"  # QUICK's limit
    assert all(test.score == 0 for test in partA(report))
    assert stopped in partA(report)[0].output
    assert f"The partA test process was {stopped}" in report.output
    assert "printed 81920 bytes; only the first and last 4096" in report.output
    assert len((tmp_path / "results.json").read_bytes()) < 100_000
    assert seconds < 30


FLOODS_LATE = """
import sys as _sys

_real_close = KeyValueServer.close
_count = [0]

def _count_close(self):
    _real_close(self)
    _count[0] += 1
    if _count[0] == 2:  # the second test's close(): print without end
        for _ in range(100):
            _sys.stdout.write("spam " * 200_000 + "\\n")

KeyValueServer.close = _count_close
"""


def test_a_flood_in_the_second_test_keeps_the_first_tests_point(
    tmp_path: Path,
) -> None:
    report, data, seconds = quick_grade(hostile(tmp_path, FLOODS_LATE))
    first, second = partA(report)
    assert (first.status, first.score) == ("passed", 1)
    assert second.score == 0
    assert "stopped: printed more than 81920 bytes" in second.output


TRIES_THE_NETWORK = """
import os as _os
import socket as _socket

def _start(self, port, host="127.0.0.1"):
    seen = sorted(name for _, name in _socket.if_nameindex())
    raise RuntimeError(
        f"interfaces: {seen}; /sys/class/net: {sorted(_os.listdir('/sys/class/net'))}"
    )

KeyValueServer.start = _start
"""


def test_a_server_that_looks_for_the_network_sees_only_loopback(
    tmp_path: Path,
) -> None:
    report, data, seconds = quick_grade(hostile(tmp_path, TRIES_THE_NETWORK))
    message = partA(report)[0].output
    if "network: loopback only" not in report.isolation[0]:
        assert "network: NOT isolated" in report.isolation[0]
        pytest.skip("this machine allows no network namespace")
    assert "interfaces: ['lo']; /sys/class/net: ['lo']" in message


DELETES_FILES = """
import os as _os
import shutil as _shutil

_real_start = KeyValueServer.start

def _start(self, port, host="127.0.0.1"):
    for name in _os.listdir("."):  # the kit: the tests, the harness, this file
        if _os.path.isdir(name):
            _shutil.rmtree(name, ignore_errors=True)
        else:
            try:
                _os.remove(name)
            except OSError:
                pass
    return _real_start(self, port, host)

KeyValueServer.start = _start
"""


def test_a_server_that_deletes_its_working_folder(tmp_path: Path) -> None:
    report, data, seconds = quick_grade(hostile(tmp_path, DELETES_FILES))
    if "uid" not in report.isolation[0]:
        pytest.skip("not root: the sandbox cannot protect the kit from its user")
    # the kit is read-only to the sandbox's user: nothing went, all tests ran
    assert [test.status for test in partA(report)] == ["passed", "passed"]


def test_a_syntax_error(tmp_path: Path) -> None:
    path = submission(tmp_path / "broken", "def start(self:\n", STARTER_TESTS)
    report, data, seconds = quick_grade(path)
    for test in partA(report):
        assert test.score == 0
        assert (
            "partA/server.py does not compile on the grader's Python 3." in test.output
        )
        assert "at line 1" in test.output
    assert by_name(report)["format (ruff format --check)"].score == 0


def test_a_zip_whose_names_climb_out(tmp_path: Path) -> None:
    path = tmp_path / "inside" / "submission.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("partA/server.py", REFERENCE_SERVER)
        archive.writestr("../escaped.py", "print('out')\n")
    report, data, seconds = quick_grade(path)
    assert report.score == 0
    assert "climbs out of its folder: '../escaped.py'" in report.output
    assert all("climbs out" in test.output for test in report.tests)
    assert not (tmp_path / "escaped.py").exists()
    assert report.status == data["extra_data"]["status"] == "refused"
    assert "(REFUSED)" in table(report).splitlines()[0]


def test_a_submission_without_any_file_to_grade_is_refused(tmp_path: Path) -> None:
    path = submission(tmp_path / "empty", None, None)
    (path / "notes.txt").write_text("I ran out of time\n")
    report, data, seconds = quick_grade(path)
    assert report.status == data["extra_data"]["status"] == "refused"
    assert "none of the files to grade is in it" in report.output
    assert "the submission holds: notes.txt" in report.output
    assert report.score == 0


def test_a_test_file_that_calls_os_exit(tmp_path: Path) -> None:
    tests = "import os\n\n\ndef test_leave():\n    os._exit(3)\n"
    path = submission(tmp_path / "exits", REFERENCE_SERVER, tests)
    overrides = QUICK | {"points": {"partA": {}, "partB": 5}}
    report = grade_submission(path, load_settings(overrides=overrides))
    print(table(report))
    check_results(report, tmp_path)
    partB = by_name(report)["partB squarer tests (wheats and chaffs)"]
    assert partB.score == 0
    assert "NOT VALID" in partB.output
    assert "exited with code 3 before pytest finished" in partB.output


# ----- finding the files ---------------------------------------------------------


def test_files_one_folder_down_or_loose_are_found(tmp_path: Path) -> None:
    path = tmp_path / "loose.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__MACOSX/partA/server.py", "junk")
        archive.writestr("handin/partA/server.py", "x = 1\n")
        archive.writestr("test_squarer.py", "y = 2\n")
    files, notes = intake.collect(path, load_settings())
    assert files == {intake.SERVER: b"x = 1\n", intake.TESTS: b"y = 2\n"}
    assert "partA/server.py: graded handin/partA/server.py" in notes


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = submission(tmp_path / "half", None, STARTER_TESTS)
    report, data, seconds = quick_grade(path)
    assert "partA/server.py: MISSING" in report.output
    assert report.status == data["extra_data"]["status"] == "graded"
    assert all("there is no partA/server.py" in t.output for t in partA(report))


def test_a_link_in_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    link = zipfile.ZipInfo("partA/server.py")
    link.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(intake.SubmissionError, match="symbolic link"):
        intake.collect(path, load_settings())


def test_a_link_in_a_folder_is_not_read(tmp_path: Path) -> None:
    path = submission(tmp_path / "linked", None, STARTER_TESTS)
    (path / intake.SERVER).parent.mkdir()
    (path / intake.SERVER).symlink_to("/etc/passwd")
    files, notes = intake.collect(path, load_settings())
    assert files[intake.SERVER] is None
    assert any("is a link" in note for note in notes)


# ----- the rules -------------------------------------------------------------------


def test_the_rules_scan_follows_imports_and_aliases() -> None:
    source = """
import threading as t
import queue
from threading import RLock as R, Event
import multiprocessing.pool
lock = t.Lock()
other = getattr(t, "Semaphore")(2)
proc = __import__("subprocess")
queue.Queue()
Event()
"""
    forbidden = load_settings().rules.forbidden
    found = [str(v) for v in rules.find_violations(source, forbidden)]
    assert found == [
        "partA/server.py:4: uses threading.RLock",
        "partA/server.py:5: uses multiprocessing.pool",
        "partA/server.py:6: uses threading.Lock",
        "partA/server.py:7: uses threading.Semaphore",
        "partA/server.py:8: uses subprocess",
    ]


LOCK_PHRASE = (
    "guarded by a lock: the course rules forbid locks; hand the state to one owner"
)


def test_a_lock_costs_points_when_the_settings_say_so(tmp_path: Path) -> None:
    server = "import threading\n\nLOCK = threading.Lock()\n"
    for costs, score in ((True, -1), (False, 0)):
        settings = load_settings(overrides={"rules": {"costs_points": costs}})
        [result] = rules.grade(server.encode(), settings)
        assert (result.status, result.score) == ("failed", score)
        assert "partA/server.py:3: uses threading.Lock" in result.output
        assert LOCK_PHRASE in result.output


def test_a_forbidden_name_that_is_no_lock_is_not_called_one() -> None:
    [result] = rules.grade(b"import subprocess\n", load_settings())
    assert "uses subprocess" in result.output
    assert "guarded by a lock" not in result.output


LOCK_GUARDED = ROOT / "grading" / "proof" / "correct_servers" / "lock_guarded.py"


@pytest.mark.slow
@pytest.mark.parametrize("costs", [True, False])
def test_a_lock_guarded_correct_server_loses_only_the_rules_points(
    tmp_path: Path, costs: bool
) -> None:
    """The ownership checker counts a lock as a hand-over: every partA test
    passes, and the rules charge the lock, by the settings."""
    path = submission(tmp_path / "locked", LOCK_GUARDED.read_text(), REFERENCE_TESTS)
    overrides = {"points": {"partB": 0}, "rules": {"costs_points": costs}}
    settings = load_settings(overrides=overrides)
    report = grade_submission(path, settings)
    assert all(test.score == test.max_score for test in partA(report)), table(report)
    [rule] = [test for test in report.tests if test.number == "4.1"]
    penalty = settings.rules.points_per_violation if costs else 0
    assert rule.score == -penalty, rule.output
    assert LOCK_PHRASE in rule.output
    assert report.score == report.max_score - penalty, table(report)


# ----- the instructor tree is out of the sandbox's reach ---------------------------


def instructor_paths(autograder: Path) -> list[str]:
    """Where a student's code could look for the reference and the chaffs."""
    return [
        str(ROOT / "partA" / "server.py"),
        str(ROOT / "partC" / "server.py"),
        str(ROOT / "grading" / "squarers" / "*.py"),
        str(ROOT / "grading" / "proof" / "server_mutants.py"),
        str(autograder / "source" / "partA" / "server.py"),
        "/autograder/source/partA/server.py",
        "/autograder/source/grading/squarers/*.py",
    ]


PEEKS = """
import glob as _glob


def _peek(patterns):
    read = []
    for pattern in patterns:
        for path in _glob.glob(pattern) or [pattern]:
            try:
                with open(path, "rb") as _file:
                    _file.read(1)
            except OSError:
                continue
            read.append(path)
    return read
"""


@pytest.fixture
def autograder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Gradescope-shaped root whose source holds the reference, open to all."""
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    (root / "source" / "partA").mkdir(parents=True)
    (root / "source" / "partA" / "server.py").write_text(REFERENCE_SERVER)
    sandbox.open_to_all(root)
    monkeypatch.setenv("AUTOGRADER_ROOT", str(root))
    yield root
    shutil.rmtree(root)


def test_the_students_tests_cannot_read_the_instructor_tree(
    tmp_path: Path, autograder: Path
) -> None:
    paths = instructor_paths(autograder)
    assert (autograder / "source/partA/server.py").stat().st_mode & 0o004
    tests = (
        PEEKS
        + f"""

def test_the_instructor_tree_is_out_of_reach():
    read = _peek({paths!r})
    assert not read, f"LEAK: read {{read}}"
"""
    )
    path = submission(tmp_path / "peeker", None, tests)
    overrides = QUICK | {"points": {"partA": {}, "partB": 5}}
    report = grade_submission(path, load_settings(overrides=overrides))
    print(table(report))
    partB = by_name(report)["partB squarer tests (wheats and chaffs)"]
    if "uid" not in report.isolation[0] and "PID namespace" not in report.isolation[0]:
        pytest.skip("neither a user of its own nor a mount namespace here")
    assert "LEAK" not in partB.output
    assert "VALID: every test passed" in partB.output


def test_the_server_cannot_read_the_instructor_tree(
    tmp_path: Path, autograder: Path
) -> None:
    patch = (
        PEEKS
        + f"""
_real_start = KeyValueServer.start


def _start(self, port, host="127.0.0.1"):
    read = _peek({instructor_paths(autograder)!r})
    if read:
        raise RuntimeError(f"LEAK: read {{read}}")
    return _real_start(self, port, host)


KeyValueServer.start = _start
"""
    )
    report, data, seconds = quick_grade(hostile(tmp_path, patch))
    if "uid" not in report.isolation[0] and "PID namespace" not in report.isolation[0]:
        pytest.skip("neither a user of its own nor a mount namespace here")
    assert [test.status for test in partA(report)] == ["passed", "passed"], partA(
        report
    )[0].output


def test_a_picture_drawn_in_teardown_is_named_after_its_test() -> None:
    """Its message then names the copy the staff keep, not a grader path."""
    from grading.submission.judge_partA import named_after

    assert named_after("TestBasic.test_basic1-teardown", "test_basic1")
    assert named_after("TestBasic.test_basic1", "test_basic1")
    assert not named_after("TestBasic.test_basic12-teardown", "test_basic1")
