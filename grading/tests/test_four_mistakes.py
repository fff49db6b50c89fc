"""A failure reads as one list of problems, the same in every test.

``four_mistakes`` is a first server as a student writes one, with four
classic mistakes. Each failed test must list every problem found (not only
the first check that failed), one per line, threads named by role; the run
must end with each distinct problem once, with the tests it broke.
"""

from __future__ import annotations

import re
import pytest

from grading.proof.suite_runs import run_suite
from partA.framework import problems

SERVER = "grading.proof.four_mistakes:KeyValueServer"
# One test of each graded suite: each meets different mistakes.
SELECTED = "test_basic3 or test_count1 or test_slow_client1"
SUITES = ["test_basic.py", "test_count.py", "test_slow_client.py"]


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> str:
    pictures = tmp_path_factory.mktemp("pictures")
    env = {"KV_REPLY_TIMEOUT": "4", "KV_CALL_TIMEOUT": "3"}
    env["KV_PICTURES_DIR"] = str(pictures)
    result = run_suite(SERVER, SUITES, env=env, select=SELECTED, stop=False)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout


def failures(output: str) -> dict[str, str]:
    """Each failed test's message, by test."""
    found = re.split(r"^_{3,} (\S+) _{3,}$", output, flags=re.M)
    return {
        test: text.partition("\n=====")[0]
        for test, text in zip(found[1::2], found[2::2], strict=True)
    }


def summary(output: str) -> str:
    return output.partition("distinct problem(s) ===")[2].partition("\n=====")[0]


def test_each_failure_lists_all_its_problems(output: str) -> None:
    said = failures(output)
    assert sorted(said) == [
        "TestBasic.test_basic3",
        "TestCount.test_count1",
        "TestSlowClient.test_slow_client1",
    ], output
    for test, message in said.items():
        listed = problems.read(message)
        assert len(listed) >= 3, f"{test}: {message}"
        # close() sleeps instead of joining: said beside the ownership problems
        assert any("state used by two threads" in p for p in listed), message
        assert any("close()" in p for p in listed), message
        for problem in listed:  # threads by role, never by number
            assert not re.search(r"\b(reader|writer)-\d", problem), problem


def test_a_problem_reads_the_same_in_every_test(output: str) -> None:
    listed = [set(problems.read(m)) for m in failures(output).values()]
    shared = set.intersection(*listed)
    assert any("_Client.conn written by the accept thread" in p for p in shared)


def test_the_run_ends_with_the_distinct_problems(output: str) -> None:
    said = summary(output)
    lines = [line for line in said.splitlines() if line.startswith("- ")]
    assert len(lines) == len(set(lines)), said
    for mistake in (
        "a reader thread called the store after another reader thread did",
        "self.dropped written by a reader thread and read by another reader",
        "close() returned without joining",
        "a slow client could not send",
    ):
        assert sum(mistake in line for line in lines) == 1, f"{mistake!r}:\n{said}"
    assert "in 3 test(s): TestBasic.test_basic3, TestCount.test_count1" in said


def test_problems_are_listed_and_read_back() -> None:
    message = problems.listed(["first", "second\nwhere it waits", "first"])
    assert message == "2 problems:\n- first\n- second\n  where it waits"
    assert problems.read(message) == ["first", "second"]
    assert problems.read("E   2 problems:\nE   - a\nE   - b") == ["a", "b"]
    assert problems.listed(["alone"]) == "alone"


def test_threads_are_named_by_role() -> None:
    assert problems.who("reader-3") == "a reader thread"
    assert problems.who("reader-3", "reader-1") == "another reader thread"
    assert problems.who("accept") == "the accept thread"
    assert problems.who("Thread-4 (handle)") == "a thread running handle()"
    said = problems.by_role(["accept", "reader-0", "reader-1", "writer-0"])
    assert said == "the accept thread, 2 reader threads, a writer thread"


def test_a_summary_leaves_out_what_changes_between_tests() -> None:
    said = problems.summary(
        "slow client 3 could not send for 25 s (the server did nothing): the "
        "server stopped reading its requests\n  where the server's threads wait"
    )
    assert said == (
        "a slow client could not send for N s: the server stopped reading its requests"
    )
