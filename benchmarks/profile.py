"""Where the reference spends the interpreter lock, under kvbench load.

Usage: ``python benchmarks/profile.py [--clients 10,100,1000]`` (needs
``pip install py-spy``; Linux, and permission to read another process's
memory: root, or ``kernel.yama.ptrace_scope`` 0).

Theory of operation
-------------------
For each C: start the reference (``runners/srunner.py``) as ``run.py``
does, load it with ``kvbench -c C`` (mix pgd, request/response), let the
load settle for ``--settle`` seconds, then sample it with
``py-spy record --gil`` at ``--rate`` Hz for ``--seconds``: with ``--gil``
py-spy keeps only the samples in which some thread holds the interpreter
lock. The script prints the share of samples that held the lock (the rest
of the time no thread ran Python: they were handing the lock over, or
waiting in the kernel), and the source lines where the lock was held most
(self time: the innermost frame). The raw profiles stay in ``--keep``.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

from run import ROOT, start_server, stop_server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--clients", default="10,100,1000", help="C values, comma-separated")
    add("--rate", type=int, default=250, help="samples a second")
    add("--seconds", type=int, default=4, help="seconds sampled")
    add("--settle", type=float, default=2.0, help="seconds of load before sampling")
    add("--top", type=int, default=8, help="source lines shown")
    add("--keep", type=Path, default=Path("/tmp"), help="folder for raw profiles")
    return parser.parse_args(argv)


def profile(clients: int, args: argparse.Namespace) -> Path:
    """Sample the loaded reference; return the raw (collapsed stacks) file."""
    out = args.keep / f"kv-profile-c{clients}.txt"
    server, port = start_server("reference", pin=False)
    load_s = args.settle + args.seconds + 1.0
    bench = [sys.executable, "runners/kvbench.py", "--port", str(port)]
    bench += ["-c", str(clients), "-d", str(load_s), "--warmup", "0", "--json"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    load = subprocess.Popen(bench, cwd=ROOT, **quiet)
    try:
        spy = ["py-spy", "record", "-p", str(server.pid), "--gil", "--nonblocking"]
        spy += ["-r", str(args.rate), "-d", str(args.seconds), "-f", "raw"]
        time.sleep(args.settle)
        subprocess.run([*spy, "-o", str(out)], check=True, capture_output=True)
    finally:
        load.wait(timeout=load_s + 60)
        stop_server(server)
    return out


def summary(raw: Path, clients: int, args: argparse.Namespace) -> str:
    """The share of samples with the lock held, and the top source lines."""
    lines: collections.Counter[str] = collections.Counter()
    for row in raw.read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        lines[stack.split(";")[-1]] += int(count)
    held = sum(lines.values())
    possible = args.rate * args.seconds
    text = [f"C={clients}: the lock was held in {held} of ~{possible} samples"]
    text[0] += f" ({held / possible:.0%})"
    for where, count in lines.most_common(args.top):
        text.append(f"  {count / held:6.1%}  {where}")
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for clients in (int(c) for c in args.clients.split(",")):
        print(summary(profile(clients, args), clients, args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
