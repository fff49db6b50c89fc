"""Measure how reliably the partA suites judge servers: N runs each.

``python -m grading.measure_partA --runs 20 mutants NAME...`` runs each broken
server of ``server_mutants`` against the suite its ``CAUGHT_BY`` names, N
times, each in a fresh pytest process (as ``test_server_mutants`` does once),
and counts the runs that failed with its phrase. ``... servers SPEC...``
runs the graded suites N times on each correct server (module:Class) and
counts the runs that passed. The figures go in issue notes and the report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from grading.server_mutants import CAUGHT_BY, RACY, ROBUSTNESS_CAUGHT_BY
from grading.suite_runs import ROOT, run_suite

GRADED = ["partA/test_basic.py", "partA/test_count.py", "partA/test_slow_client.py"]


def measure_mutant(name: str, runs: int, extra: list[str]) -> str:
    suite, phrase = (CAUGHT_BY | ROBUSTNESS_CAUGHT_BY | RACY)[name]
    caught = 0
    for _ in range(runs):
        if extra:
            result = _run_with(f"grading.server_mutants:{name}", suite, extra)
        else:
            result = run_suite(f"grading.server_mutants:{name}", suite)
        output = result.stdout + result.stderr
        caught += result.returncode == 1 and phrase in output
    said = f" with {' '.join(extra)}" if extra else ""
    return f"{name}: caught {caught}/{runs} by {suite}{said} ({phrase!r})"


def _run_with(server: str, suite: str, extra: list[str]):
    """``run_suite``'s command, with more options (``--stress 1``)."""
    env = os.environ | {"KV_REPLY_TIMEOUT": "4", "KV_CALL_TIMEOUT": "3"}
    command = [
        sys.executable, "-m", "pytest", f"partA/{suite}", "-x", "-q",
        "-p", "no:cacheprovider", "-p", "no:xdist", "--server", server, *extra,
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def measure_server(spec: str, runs: int, jobs: int) -> str:
    passed, seconds = 0, []
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--server", spec, *GRADED,
    ]  # fmt: skip
    if jobs > 1:
        command += ["-n", str(jobs)]
    for _ in range(runs):
        start = time.monotonic()
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, env=os.environ
        )
        seconds.append(time.monotonic() - start)
        passed += result.returncode == 0
        if result.returncode != 0:
            print(result.stdout[-3000:], file=sys.stderr)
    return (
        f"{spec}: passed {passed}/{runs} runs of the graded suites "
        f"({min(seconds):.0f}-{max(seconds):.0f} s a run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1, help="pytest-xdist workers")
    parser.add_argument(
        "--with", dest="extra", default="", help='more pytest options: "--stress 1"'
    )
    parser.add_argument("kind", choices=["mutants", "servers"])
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    for name in args.names:
        if args.kind == "mutants":
            print(measure_mutant(name, args.runs, args.extra.split()), flush=True)
        else:
            print(measure_server(name, args.runs, args.jobs), flush=True)


if __name__ == "__main__":
    main()
