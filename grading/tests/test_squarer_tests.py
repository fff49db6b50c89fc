"""Tests of the squarer-tests runner, on small student test files written here.

Each test runs only the wheats and chaffs it needs, so that the whole file
stays quick; the first test runs everything once.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grading.submission import judge_partB
from grading.proof import student_squarer_tests as students
from grading.__main__ import main
from grading.squarer_tests import Limits, Verdict, describe, run_squarer_tests
from grading.settings import load_settings
from grading.squarers import Implementation, chaffs, wheats
from partB import test_squarer as starter
from partB.squarer import SLOWEST_CLOSE_SECONDS, SLOWEST_STEP_SECONDS

KIT = Path(__file__).resolve().parents[2]
REFERENCE_TESTS = KIT / "partB" / "test_squarer.py"
HEADER = """\
import os
import queue
import time

import partB.squarer
from partB.squarer import Squarer
"""


def squarer(name: str) -> Implementation:
    """The wheat or chaff called ``name``."""
    return next(i for i in wheats() + chaffs() if i.name == name)


def student_file(tmp_path: Path, tests: str) -> Path:
    """A student's test file holding HEADER and ``tests``."""
    path = tmp_path / "test_squarer.py"
    path.write_text(HEADER + "\n\n" + textwrap.dedent(tests))
    return path


def starter_only(tmp_path: Path) -> Path:
    """The reference test file without its solution region: the handout's."""
    region = re.compile(r"^# BEGIN SOLUTION$.*?^# END SOLUTION$\n", re.M | re.S)
    path = tmp_path / "test_squarer.py"
    path.write_text(region.sub("", REFERENCE_TESTS.read_text()))
    return path


def only_failure(verdict: Verdict, test: str) -> str:
    """The message of the one test that failed on a wheat, which must be ``test``."""
    assert not verdict.valid, "the tests should be invalid"
    assert list(verdict.invalid_tests) == [test]
    return verdict.invalid_tests[test][1].message


def test_the_reference_tests_are_valid_and_catch_every_chaff() -> None:
    verdict = run_squarer_tests(REFERENCE_TESTS, wheat_runs=1, chaff_runs=1, jobs=6)
    assert verdict.valid, describe(verdict, names=True)
    missed = [result.squarer.name for result in verdict.chaffs if not result.caught]
    assert not missed, describe(verdict, names=True)
    assert len(verdict.chaffs) >= 8


def test_the_starter_test_alone_is_valid_and_misses_the_doubler(
    tmp_path: Path,
) -> None:
    verdict = run_squarer_tests(starter_only(tmp_path), chaffs=[squarer("doubler")])
    assert verdict.tests == ("test_basic_correctness",)
    assert verdict.valid, describe(verdict)
    assert not verdict.chaffs[0].caught
    assert "Bugs caught: 0 of 1" in describe(verdict)


def test_an_over_specified_test_is_invalid_and_named(tmp_path: Path) -> None:
    path = student_file(
        tmp_path,
        """
        def test_squares() -> None:
            inputs = queue.Queue()
            squarer = Squarer()
            squares = squarer.initialize(inputs)
            inputs.put(3)
            assert squares.get(timeout=5) == 9
            squarer.close()

        def test_close_sends_an_end_marker() -> None:
            squarer = Squarer()
            squares = squarer.initialize(queue.Queue())
            squarer.close()
            assert squares.get(timeout=1) is None
        """,
    )
    verdict = run_squarer_tests(
        path, wheats=[squarer("reference")], chaffs=[squarer("doubler")]
    )
    assert "Empty" in only_failure(verdict, "test_close_sends_an_end_marker")
    assert "test_close_sends_an_end_marker failed on" in describe(verdict)
    # It fails on the doubler too, but only a valid test may catch a chaff.
    assert verdict.chaffs[0].caught_by == ("test_squares",)


def test_a_test_that_runs_out_of_time_is_told_why(tmp_path: Path) -> None:
    path = student_file(
        tmp_path,
        """
        def test_waits_on_the_input_each_time() -> None:
            inputs = queue.Queue()
            squarer = Squarer()
            squares = squarer.initialize(inputs)
            for value in range(3):
                inputs.put(value)
                while not inputs.empty():  # nothing waits on the output
                    time.sleep(0.01)
                assert squares.get(timeout=5) == value * value
            squarer.close()
        """,
    )
    slow, limits = [squarer("slow")], Limits(test_seconds=3)
    verdict = run_squarer_tests(path, wheats=slow, chaffs=[], limits=limits)
    message = only_failure(verdict, "test_waits_on_the_input_each_time")
    assert message.startswith("ran out of time: still running when it reached")
    assert "a correct squarer (3 s)" in message
    assert "correct squarer (3 s)" in message
    assert "may pause up to 2 s before each" in message
    assert "Make it move fewer values, or wait on the output" in message
    assert "at line" in message


def test_a_chaffs_second_run_tries_the_catching_test_alone(tmp_path: Path) -> None:
    path = student_file(
        tmp_path,
        """
        def test_two() -> None:
            inputs = queue.Queue()
            squarer = Squarer()
            squares = squarer.initialize(inputs)
            inputs.put(2)
            assert squares.get(timeout=5) == 4
            squarer.close()

        def test_three() -> None:
            inputs = queue.Queue()
            squarer = Squarer()
            squares = squarer.initialize(inputs)
            inputs.put(3)
            assert squares.get(timeout=5) == 9
            squarer.close()
        """,
    )
    verdict = run_squarer_tests(path, wheats=[], chaffs=[squarer("doubler")])
    [doubler] = verdict.chaffs
    assert doubler.caught
    assert [run.tests for run in doubler.runs] == [
        ("test_two", "test_three"),
        ("test_three",),
    ]


def test_a_hanging_chaff_does_not_hang_the_runner(tmp_path: Path) -> None:
    path = student_file(
        tmp_path,
        """
        def test_close_with_a_square_unread() -> None:
            inputs = queue.Queue()
            squarer = Squarer()
            squares = squarer.initialize(inputs)
            inputs.put(3)
            squares.get(timeout=5)
            inputs.put(4)
            while squares.empty():
                time.sleep(0.01)
            squarer.close()  # hangs on this chaff: no deadline of its own
        """,
    )
    hanging = squarer("close_hangs_on_unread_square")
    verdict = run_squarer_tests(
        path, wheats=[], chaffs=[hanging], limits=Limits(test_seconds=1)
    )
    assert verdict.chaffs[0].caught
    assert "ran out of time" in verdict.chaffs[0].runs[0].failures[0].message
    assert verdict.seconds < 10


def test_a_test_that_never_ends_is_stopped_and_named(tmp_path: Path) -> None:
    path = student_file(
        tmp_path,
        """
        def test_never_ends() -> None:
            while True:
                try:
                    time.sleep(10)
                except BaseException:  # even pytest-timeout's failure
                    pass
        """,
    )
    limits = Limits(test_seconds=0.5, run_seconds=2)
    verdict = run_squarer_tests(
        path, wheats=[squarer("reference")], chaffs=[squarer("doubler")], limits=limits
    )
    assert "stopped" in only_failure(verdict, "test_never_ends")
    assert not verdict.chaffs
    assert verdict.seconds < 10


def test_a_test_that_ends_the_process_is_named(tmp_path: Path) -> None:
    path = student_file(
        tmp_path,
        """
        def test_squares() -> None:
            pass

        def test_exits() -> None:
            os._exit(3)
        """,
    )
    verdict = run_squarer_tests(path, wheats=[squarer("reference")], chaffs=[])
    assert "exited with code 3" in only_failure(verdict, "test_exits")


def test_a_file_that_does_not_load_is_invalid(tmp_path: Path) -> None:
    path = student_file(tmp_path, "def test_squares(:\n    pass\n")
    verdict = run_squarer_tests(
        path, wheats=[squarer("reference")], chaffs=[squarer("doubler")]
    )
    message = only_failure(verdict, "")
    assert "could not be loaded" in message
    assert "SyntaxError" in message
    assert not verdict.chaffs
    assert "The file failed" in describe(verdict)


def test_the_command_line_refuses_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["squarer-tests", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err


# ----- the judge's rules, on student-style test files
# (grading/proof/student_squarer_tests)

SLEEPERS = {  # the tests of sleep_ordered that sleep, then look
    "test_squares_after_a_nap",
    "test_takes_one_value_after_a_nap",
    "test_a_reader_collects_during_a_nap",
    "test_the_second_square_after_a_nap",
}
OVER_SPECIFIED = {  # the tests of over_specified: a wheat each fails on, every
    # run, and the words by which the verdict names the freedom it assumed away
    "test_the_output_holds_one_square": ("unbounded", "another maxsize"),
    "test_the_worker_is_called_squarer": ("unbounded", "another name"),
    "test_the_output_is_full_with_one_square": ("unbounded", "another maxsize"),
    "test_two_values_wait_while_the_first_square_is_read": (
        "eager",
        "moves on the moment its square is read",
    ),
    "test_close_ends_the_worker_thread": ("other_design", "other private names"),
    "test_close_is_quick": ("other_design", "a close() that takes 0.3 s"),
}
HANGING = "test_reads_one_square_too_many"
GRADESCOPE_LIMITS = KIT / "tools" / "gradescope-limits"


def check_honest_long(verdict: Verdict) -> None:
    assert verdict.valid, describe(verdict, names=True)
    assert len(verdict.tests) == 31
    assert len(verdict.chaffs) >= 10
    assert verdict.caught == len(verdict.chaffs), describe(verdict, names=True)


def check_sleep_ordered(verdict: Verdict) -> None:
    [slow] = [result for result in verdict.wheats if result.squarer.name == "slow"]
    for run in slow.runs:
        failed = {failure.test for failure in run.failures}
        assert failed == SLEEPERS, f"run {run.number}: {describe(verdict)}"


def check_over_specified(verdict: Verdict) -> None:
    said = describe(verdict)
    assert set(verdict.invalid_tests) == set(OVER_SPECIFIED), said
    for test, (wheat, freedom) in OVER_SPECIFIED.items():
        [result] = [r for r in verdict.wheats if r.squarer.name == wheat]
        runs, about = len(result.runs), result.squarer.about
        failed = f"{test} failed on the wheat '{wheat}' in {runs} of {runs} runs"
        assert f"{failed}\n  ('{wheat}' is {about})" in said, said
        assert freedom in about


def check_hanging(verdict: Verdict) -> None:
    message = only_failure(verdict, HANGING)
    assert message.startswith("ran out of time: still running"), message
    assert "a correct squarer (10 s)" in message, message
    assert "squares.get()" in message  # the line where it waited
    assert verdict.caught == len(verdict.chaffs) == 1  # its other tests count


def check_at_the_budget(verdict: Verdict) -> None:
    assert verdict.valid, describe(verdict)
    [slow] = [result for result in verdict.wheats if result.squarer.name == "slow"]
    budget = float(handout_budget())
    for run in slow.runs:  # valid, though it did pause at each step nothing waited on
        assert run.seconds > budget - 3, describe(verdict)


CHECKS = {
    "honest_long": check_honest_long,
    "at_the_budget": check_at_the_budget,
    "sleep_ordered": check_sleep_ordered,
    "over_specified": check_over_specified,
    "hanging": check_hanging,
}
CHAFFS = {"honest_long": None, "hanging": ["doubler"]}  # default: none


def judged(name: str, folder: Path) -> Verdict:
    """The verdict on ``name``, with the grader's defaults but fewer chaffs."""
    named = CHAFFS.get(name, [])
    chaffs_ = None if named is None else [squarer(chaff) for chaff in named]
    return run_squarer_tests(students.student_file(name, folder), chaffs=chaffs_)


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKS)
def test_a_student_style_file_gets_its_verdict(name: str, tmp_path: Path) -> None:
    CHECKS[name](judged(name, tmp_path))


def at_half_a_cpu(name: str, folder: Path) -> Verdict:
    """``judged(name)``, in a cgroup limited to 0.5 CPU and 768 MB, as on
    Gradescope (tools/gradescope-limits; skips where it cannot make one)."""
    if subprocess.run([GRADESCOPE_LIMITS, "true"], capture_output=True).returncode:
        pytest.skip("tools/gradescope-limits cannot make a cgroup here (root only)")
    child = [sys.executable, "-c", JUDGE_AS_JSON, name, str(folder)]
    done = subprocess.run(
        [GRADESCOPE_LIMITS, "--cpus", "0.5", "--mem-mib", "768", *child],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=KIT,
        env=os.environ | {"PYTHONPATH": str(KIT)},
    )
    assert done.returncode == 0, done.stderr
    return judge_partB.verdict_from(json.loads(done.stdout))


JUDGE_AS_JSON = """
import dataclasses, json, sys
from pathlib import Path
from grading.tests import test_squarer_tests as here
print(json.dumps(dataclasses.asdict(here.judged(sys.argv[1], Path(sys.argv[2])))))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKS)
def test_a_student_style_file_gets_its_verdict_at_half_a_cpu(
    name: str, tmp_path: Path
) -> None:
    CHECKS[name](at_half_a_cpu(name, tmp_path))


# ----- the rules a student reads ----------------------------------------------------


def handout_row(starts: str) -> str:
    """The last cell of the row of HANDOUT.md's Part B table that starts so."""
    handout = (KIT / "HANDOUT.md").read_text(encoding="utf-8")
    [row] = [line for line in handout.splitlines() if line.startswith(f"| {starts}")]
    return row.rstrip(" |").rsplit("| ", 1)[1]


def handout_budget() -> str:
    """The count under which HANDOUT.md says a test never runs out of time."""
    handout = (KIT / "HANDOUT.md").read_text(encoding="utf-8")
    [budget] = re.findall(r"A test whose count stays under (\S+) s", handout)
    return budget


def test_the_handout_starter_and_settings_give_the_same_numbers() -> None:
    runs = load_settings().runs
    numbers = {
        "a correct squarer may pause before each step nothing": (
            f"up to {SLOWEST_STEP_SECONDS:g}"
        ),
        "a correct `close()` takes": f"up to {SLOWEST_CLOSE_SECONDS:g}",
        "the helpers allow `close()`": f"{starter.PROMPT:g}",
        "the helpers wait": f"{starter.TIMEOUT:g}",
        "each test may take": f"{runs.partB_test_seconds:g}",
        "the whole file may take": f"{runs.partB_run_seconds:g}",
    }
    assert {row: handout_row(row) for row in numbers} == numbers
    # receive() may wait for two slowest steps: taking the value, putting its square
    assert starter.TIMEOUT > 2 * SLOWEST_STEP_SECONDS
    assert starter.PROMPT > SLOWEST_CLOSE_SECONDS
    # the count leaves time for the machine: starting pytest, a loaded grader
    budget = float(handout_budget())
    assert budget <= runs.partB_test_seconds - 2
    said = students.starter().split('"""')[1]
    times = (SLOWEST_STEP_SECONDS, SLOWEST_CLOSE_SECONDS, budget)
    times += (runs.partB_test_seconds, runs.partB_run_seconds)
    for number in times:
        assert f"{number:g} s" in said, f"the starter's docstring should say {number} s"
