"""Proof that the partC suites catch the bugs they exist for.

Each broken server in ``partc_mutants`` runs against the suite meant to catch
it, in a fresh pytest process, and must fail with a message that names its
problem. Short deadlines keep the hung ones quick.
"""

from __future__ import annotations

import pytest

from grading.proof.partc_mutants import CAUGHT_BY
from grading.proof.suite_runs import run_suite


@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_suite_catches_mutant(mutant: str) -> None:
    suite, phrase = CAUGHT_BY[mutant]
    result = run_suite(f"grading.proof.partc_mutants:{mutant}", suite, "partC")
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{suite} did not fail on {mutant}:\n{output}"
    assert phrase in output, (
        f"{mutant} failed {suite}, not saying {phrase!r}:\n{output}"
    )


def test_reference_passes_the_same_way() -> None:
    """The same command on the reference passes: the failures are the mutants'."""
    result = run_suite("partC.server:KeyValueServer", "test_transactions.py", "partC")
    assert result.returncode == 0, result.stdout + result.stderr
