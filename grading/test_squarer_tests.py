"""Tests of the squarer-tests runner, on small student test files written here.

Each test runs only the wheats and chaffs it needs, so that the whole file
stays quick; the first test runs everything once.
"""

import re
import textwrap
from pathlib import Path

import pytest

from grading.__main__ import main
from grading.squarer_tests import Limits, Verdict, describe, run_squarer_tests
from grading.squarers import Implementation, chaffs, wheats

KIT = Path(__file__).resolve().parent.parent
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


def test_a_test_ordered_by_sleeping_is_invalid_on_the_jitter_wheat(
    tmp_path: Path,
) -> None:
    path = student_file(
        tmp_path,
        """
        def test_square_is_ready_after_a_moment() -> None:
            inputs = queue.Queue()
            squarer = partB.squarer.Squarer()
            squares = squarer.initialize(inputs)
            inputs.put(3)
            time.sleep(0.1)  # long enough for a squarer, surely
            assert squares.get_nowait() == 9
            squarer.close()
        """,
    )
    verdict = run_squarer_tests(path, chaffs=[])  # every wheat, default runs
    only_failure(verdict, "test_square_is_ready_after_a_moment")
    failed = {r.squarer.name: r.failed_runs for r in verdict.wheats}
    # The other wheats usually pass it, but not surely: on a loaded machine a
    # 0.1 s nap can be too short for them too. That is the test's flaw.
    # Seeds 0 to 3 pause 0.16 s or more before the first square (wheat_jitter's
    # docstring); >= 3 leaves room for a sleep that oversleeps on a busy machine.
    assert failed["jitter"] >= 3


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
    assert "Timeout" in verdict.chaffs[0].runs[0].failures[0].message
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
