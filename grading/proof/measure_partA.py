"""Measure how reliably the partA suites judge servers: N runs each.

``python -m grading.proof.measure_partA --runs 20 mutants NAME...`` runs each broken
server of ``server_mutants`` against the suite its ``CAUGHT_BY`` names, N
times, each in a fresh pytest process (as ``test_server_mutants`` does once),
and counts the runs that failed with its phrase (a deadlock: with every phrase
of ``DEADLOCKS``). ``... servers SPEC...`` runs the graded suites N times on
each correct server (module:Class) and counts the runs that passed, and
those that said "deadlock" (``--with "--stress 1"`` applies to both). The
figures go in issue notes and the report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from grading.proof.server_mutants import (
    CAUGHT_BY,
    DEADLOCKS,
    RACY,
    ROBUSTNESS_CAUGHT_BY,
)
from grading.proof.suite_runs import ROOT, run_suite

GRADED = ["partA/test_basic.py", "partA/test_count.py", "partA/test_slow_client.py"]


def measure_mutant(name: str, runs: int, extra: list[str]) -> str:
    """Runs of ``name``'s suite that failed saying what it must: its phrase;
    for a deadlock, every phrase of ``DEADLOCKS`` (with the harness's own
    deadlines, which it must not wait for), and how long the runs took."""
    if name in DEADLOCKS:
        suite, *phrases = DEADLOCKS[name]
        env = {"KV_REPLY_TIMEOUT": "20", "KV_CALL_TIMEOUT": "10"}
    else:
        suite, phrase = (CAUGHT_BY | ROBUSTNESS_CAUGHT_BY | RACY)[name]
        phrases, env = [phrase], None
    caught, seconds = 0, []
    for _ in range(runs):
        start = time.monotonic()
        if extra:
            result = _run_with(
                f"grading.proof.server_mutants:{name}", suite, extra, env
            )
        else:
            result = run_suite(f"grading.proof.server_mutants:{name}", suite, env=env)
        seconds.append(time.monotonic() - start)
        output = result.stdout + result.stderr
        caught += result.returncode == 1 and all(p in output for p in phrases)
    said = f" with {' '.join(extra)}" if extra else ""
    wanted = " + ".join(map(repr, phrases))
    return (
        f"{name}: caught {caught}/{runs} by {suite}{said} "
        f"({min(seconds):.1f}-{max(seconds):.1f} s a run) ({wanted})"
    )


def _run_with(server: str, suite: str, extra: list[str], env: dict | None = None):
    """``run_suite``'s command, with more options (``--stress 1``)."""
    env = os.environ | (env or {"KV_REPLY_TIMEOUT": "4", "KV_CALL_TIMEOUT": "3"})
    command = [
        sys.executable, "-m", "pytest", f"partA/{suite}", "-x", "-q",
        "-p", "no:cacheprovider", "-p", "no:xdist", "--server", server, *extra,
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def measure_server(spec: str, runs: int, jobs: int, extra: list[str]) -> str:
    """Runs of the graded suites that ``spec`` passed; and how many of the
    failed ones said it was deadlocked (a false alarm, on a correct server)."""
    passed, deadlocked, seconds = 0, 0, []
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--server", spec, *GRADED, *extra,
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
        deadlocked += "deadlock" in result.stdout
        if result.returncode != 0:
            print(result.stdout[-3000:], file=sys.stderr)
    said = f" with {' '.join(extra)}" if extra else ""
    return (
        f"{spec}: passed {passed}/{runs} runs of the graded suites{said} "
        f"({min(seconds):.0f}-{max(seconds):.0f} s a run; {deadlocked} said "
        "deadlock)"
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
            print(
                measure_server(name, args.runs, args.jobs, args.extra.split()),
                flush=True,
            )


if __name__ == "__main__":
    main()
