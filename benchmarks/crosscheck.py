"""Check kvbench's figures against a second, independent load tool.

Usage: ``python benchmarks/crosscheck.py [--clients 10,100] [--reps 3]
[--servers reference,asyncio]`` (needs a C compiler: ``cc``, or ``$CC``).

Theory of operation
-------------------
``kvcheck.c`` is the second tool: C, one blocking thread per connection,
nothing shared with kvbench but the protocol and the "pgd" iteration
(``Put``, ``Get``, ``Delete`` in one write; the one reply checked byte for
byte). This script compiles it into a temporary folder, then, for each
repetition, C and server, runs both tools in turn against a fresh server
process each (started and stopped as ``run.py`` does), with the same
warm-up and measured time, unpinned. It prints the medians and the ratio
kvbench / kvcheck per server and C, and the errors either tool saw.
Issue 5 asks that the two agree within 20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import HERE, ROOT, bench, start_server, stop_server

TOOLS = ("kvbench", "kvcheck")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--clients", default="10,100", help="C values, comma-separated")
    add("--servers", default="reference,asyncio", help="names, comma-separated")
    add("--reps", type=int, default=3, help="interleaved repetitions")
    add("-d", "--duration", type=float, default=3.0, help="seconds measured a run")
    add("--warmup", type=float, default=0.5, help="seconds before, not counted")
    args = parser.parse_args(argv)
    args.pin, args.pipeline = False, 1  # what run.bench() reads besides
    return args


def compile_kvcheck(folder: Path) -> Path:
    binary = folder / "kvcheck"
    compiler = os.environ.get("CC", "cc")
    command = [compiler, "-O2", "-Wall", "-pthread", "-o", str(binary)]
    subprocess.run([*command, str(HERE / "kvcheck.c")], check=True)
    return binary


def kvcheck(binary: Path, port: int, clients: int, args: argparse.Namespace) -> dict:
    done = subprocess.run(
        [str(binary), str(port), str(clients), str(args.duration), str(args.warmup)],
        capture_output=True, text=True, timeout=args.duration + args.warmup + 60,
    )  # fmt: skip
    return json.loads(done.stdout)


def one_run(tool: str, binary: Path, name: str, clients: int, args) -> tuple:
    """(requests/s, errors) of one tool against a fresh ``name`` server."""
    server, port = start_server(name, pin=False)
    try:
        if tool == "kvcheck":
            report = kvcheck(binary, port, clients, args)
            return report["requests_per_s"], report["errors"] + report["never_served"]
        report = bench(port, server.pid, clients, args)
        return report["requests_per_s"], report["errors"]["total"]
    finally:
        stop_server(server)


def measure(binary: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """Every run, interleaved; requests/s and errors per (server, C, tool)."""
    rates: dict[tuple, list[float]] = {}
    errors: dict[tuple, int] = {}
    for rep in range(args.reps):
        tools = TOOLS if rep % 2 == 0 else TOOLS[::-1]  # who goes first alternates
        for c in (int(c) for c in args.clients.split(",")):
            for name in args.servers.split(","):
                for tool in tools:
                    rate, bad = one_run(tool, binary, name, c, args)
                    cell = (name, c, tool)
                    rates.setdefault(cell, []).append(rate)
                    errors[cell] = errors.get(cell, 0) + bad
                    print(f"rep {rep + 1} {name} C={c} {tool}: {rate:,.0f} req/s, "
                          f"errors {bad}", flush=True)  # fmt: skip
    return rates, errors


def table(rates: dict, errors: dict, args: argparse.Namespace) -> str:
    rows = [
        "| server | C | kvbench req/s | kvcheck req/s | kvbench / kvcheck | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.servers.split(","):
        for c in (int(c) for c in args.clients.split(",")):
            ours, theirs = (statistics.median(rates[(name, c, t)]) for t in TOOLS)
            bad = sum(errors[(name, c, t)] for t in TOOLS)
            rows.append(
                f"| {name} | {c} | {ours:,.0f} | {theirs:,.0f} | "
                f"{ours / theirs:.2f} | {bad} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        binary = compile_kvcheck(Path(folder))
        rates, errors = measure(binary, args)
    print("\n" + table(rates, errors, args))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
