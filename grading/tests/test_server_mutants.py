"""Proof that the partA suites catch the bugs they exist for.

Each broken server in ``server_mutants`` runs against the suite meant to catch
it, in a fresh pytest process, and must fail with a message that names its
problem. Short deadlines keep the hung ones quick.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from grading.proof.server_mutants import CAUGHT_BY, DEADLOCKS, ROBUSTNESS_CAUGHT_BY
from grading.proof.suite_runs import ROOT, run_suite

ALL_CAUGHT_BY = CAUGHT_BY | ROBUSTNESS_CAUGHT_BY

# The harness's own deadlines: a deadlock must end the test long before them.
PATIENT = {"KV_REPLY_TIMEOUT": "20", "KV_CALL_TIMEOUT": "10"}


@pytest.mark.parametrize("mutant", sorted(set(ALL_CAUGHT_BY) - set(DEADLOCKS)))
def test_suite_catches_mutant(mutant: str) -> None:
    suite, phrase = ALL_CAUGHT_BY[mutant]
    result = run_suite(f"grading.proof.server_mutants:{mutant}", suite)
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{suite} did not fail on {mutant}:\n{output}"
    assert phrase in output, (
        f"{mutant} failed {suite}, not saying {phrase!r}:\n{output}"
    )


@pytest.mark.parametrize("mutant", sorted(DEADLOCKS))
def test_deadlock_is_found_and_explained(mutant: str) -> None:
    """A deadlocking server fails at once, not at a deadline, and the failure
    names the threads, why nothing moves, and a line where one waits."""
    suite, *phrases = DEADLOCKS[mutant]
    result = run_suite(f"grading.proof.server_mutants:{mutant}", suite, env=PATIENT)
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{suite} did not fail on {mutant}:\n{output}"
    assert "(the server is deadlocked: see below)" in output, output
    for phrase in phrases:
        assert phrase in output, f"{mutant}: {phrase!r} not said:\n{output}"


def test_reference_passes_the_same_way() -> None:
    """The same command on the reference passes: the failures are the mutants'."""
    result = run_suite("partA.server:KeyValueServer", "test_count.py")
    assert result.returncode == 0, result.stdout + result.stderr


CORRECT_SERVERS = [
    "grading.proof.correct_servers.dict_records:KeyValueServer",
    "grading.proof.correct_servers.thread_classes:KeyValueServer",
    "grading.proof.correct_servers.writer_sends_all:KeyValueServer",  # Windows' path
    "grading.proof.correct_servers.plain_messages:KeyValueServer",  # one message a line
    "grading.proof.correct_servers.pruning_accept:KeyValueServer",  # sees threads end
    # breaks the rules only:
    "grading.proof.correct_servers.lock_guarded:KeyValueServer",
]
GRADED_SUITES = ["test_basic.py", "test_count.py", "test_slow_client.py"]


@pytest.mark.parametrize("server", CORRECT_SERVERS)
def test_correct_servers_pass_the_graded_suites(server: str) -> None:
    """Servers written apart from the reference pass, the ownership checker on:
    it raises no false alarm on designs other than the reference's."""
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-p", "no:xdist", "--server", server,
        *(f"partA/{suite}" for suite in GRADED_SUITES),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
