"""Proof that the partC suites catch the bugs they exist for.

Each broken server in ``partc_mutants`` runs against the suite meant to catch
it, in a fresh pytest process, and must fail with a message that names its
problem. Short deadlines keep the hung ones quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grading.partc_mutants import CAUGHT_BY

ROOT = Path(__file__).resolve().parent.parent


def run_suite(server: str, suite: str) -> subprocess.CompletedProcess[str]:
    """Run one partC suite file against ``server`` (module:Class); stop at a failure."""
    env = os.environ | {"KV_REPLY_TIMEOUT": "4", "KV_CALL_TIMEOUT": "3"}
    command = [
        sys.executable, "-m", "pytest", f"partC/{suite}", "-x", "-q",
        "-p", "no:cacheprovider", "-p", "no:xdist", "--partc-server", server,
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_suite_catches_mutant(mutant: str) -> None:
    suite, phrase = CAUGHT_BY[mutant]
    result = run_suite(f"grading.partc_mutants:{mutant}", suite)
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{suite} did not fail on {mutant}:\n{output}"
    assert phrase in output, (
        f"{mutant} failed {suite}, not saying {phrase!r}:\n{output}"
    )


def test_reference_passes_the_same_way() -> None:
    """The same command on the reference passes: the failures are the mutants'."""
    result = run_suite("partC.server:KeyValueServer", "test_transactions.py")
    assert result.returncode == 0, result.stdout + result.stderr
