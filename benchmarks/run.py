"""Run kvbench against the reference, a plain asyncio and a naive server.

Usage: ``python benchmarks/run.py [--clients 1,10,100,1000] [--reps 3] [--pin]
[-P 16] [--before REV]``;
``python benchmarks/run.py --summarize FILE`` prints the table of a file.

Theory of operation
-------------------
One run = one fresh server process (started on port 0; its "listening on"
line says where), one ``runners/kvbench.py --json`` against it with
``--server-pid`` (peak RSS and threads), then SIGINT to the server. Runs are
interleaved: for each repetition, for each C, every server in turn (the
order rotates from one repetition to the next), so the drift of a shared
machine hits every server alike and the servers compared at one C ran next
to each other. Each run's kvbench report, plus what was run and where, is one
line of a JSONL file in ``benchmarks/results/``, written as soon as the run
ends. The table shows medians over the repetitions; the ratio
reference/asyncio per C is the ratio of those medians, from the same file.

``--pin`` puts the server on CPU 1 and kvbench on CPU 0 (``taskset``), so
each gets one core; without it both may use every core. ``--before REV``
adds a fourth server, ``before``: the reference as it was at git revision
REV (its tree exported to a temporary folder), so that a change to the
reference is measured beside what it replaced, in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVERS = {  # name -> command line; each prints "listening on HOST:PORT"
    "reference": ["runners/srunner.py", "--port", "0"],
    "asyncio": ["benchmarks/servers/asyncio_server.py", "--port", "0"],
    "naive": ["benchmarks/servers/naive_server.py", "--port", "0"],
}
LISTENING = re.compile(rb"listening on \S+:(\d+)")
SERVER_CPU, BENCH_CPU = "1", "0"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--clients", default="1,10,100,1000", help="C values, comma-separated")
    add("--servers", default=",".join(SERVERS), help="names, comma-separated")
    add("--reps", type=int, default=3, help="interleaved repetitions")
    add("-d", "--duration", type=float, default=3.0, help="seconds measured a run")
    add("--warmup", type=float, default=0.5, help="seconds before, not counted")
    add("--pin", action="store_true", help="server on CPU 1, kvbench on CPU 0")
    add(
        "-P", "--pipeline", type=int, default=1, help="kvbench -P: iterations in flight"
    )
    add("--before", metavar="REV", help="add the reference at git revision REV")
    add("--out", type=Path, help="JSONL file; default: results/<time>-<mode>.jsonl")
    add("--summarize", type=Path, metavar="FILE", help="only print FILE's table")
    return parser.parse_args(argv)


def pinned(cpu: str, command: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *command] if pin else command


def start_server(name: str, pin: bool) -> tuple[subprocess.Popen, int]:
    """Start a fresh ``name`` server; return it and the port it listens on."""
    command = pinned(SERVER_CPU, [sys.executable, *SERVERS[name]], pin)
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([server.stdout], [], [], left)[0]:
            break  # silent too long
        line = server.stdout.readline()  # servers print whole lines, flushed
        if match := LISTENING.search(line):
            return server, int(match[1])
        if not line:
            break
    stop_server(server)
    raise RuntimeError(f"{name} server did not say where it listens")


def stop_server(server: subprocess.Popen) -> int | None:
    """SIGINT, then wait; kill it if it does not end. Returns its exit status."""
    server.send_signal(signal.SIGINT)
    try:
        server.communicate(timeout=STOP_TIMEOUT_S)  # drains its stdout too
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
        return None
    return server.returncode


def bench(port: int, pid: int, clients: int, args: argparse.Namespace) -> dict:
    """One kvbench run against 127.0.0.1:``port``; its JSON report."""
    command = [sys.executable, "runners/kvbench.py", "--port", str(port)]
    command += ["-c", str(clients), "-d", str(args.duration)]
    command += ["--warmup", str(args.warmup), "--server-pid", str(pid), "--json"]
    command += ["-P", str(args.pipeline)]
    done = subprocess.run(
        pinned(BENCH_CPU, command, args.pin),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=args.duration + args.warmup + 120,
    )
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"kvbench_failed": done.returncode, "stderr": done.stderr[-2000:]}


def one_run(name: str, clients: int, rep: int, args: argparse.Namespace) -> dict:
    server, port = start_server(name, args.pin)
    try:
        report = bench(port, server.pid, clients, args)
    finally:
        status = stop_server(server)
    report["bench"] = {
        "server": name,
        "clients": clients,
        "rep": rep,
        "pinned": args.pin,
        "pipeline": args.pipeline,
        "server_command": " ".join(SERVERS[name]),
        "server_exit": status,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "loadavg": os.getloadavg()[0],
    }
    return report


def provenance() -> dict[str, Any]:
    """What was measured: the commit, and the reference server's exact text."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    source = (ROOT / "partA/server.py").read_bytes()
    return {
        "commit": commit,
        "partA_server_sha256": hashlib.sha256(source).hexdigest()[:16],
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def export_before(rev: str, folder: Path) -> None:
    """Put the kit as it was at ``rev`` into ``folder``; serve it as ``before``."""
    archive = subprocess.run(
        ["git", "archive", rev, "partA", "runners"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    SERVERS["before"] = [str(folder / "runners" / "srunner.py"), "--port", "0"]


def measure(args: argparse.Namespace) -> Path:
    """Every run, interleaved; each report appended to the JSONL file at once."""
    with tempfile.TemporaryDirectory(prefix="bench-before-") as folder:
        names = args.servers.split(",")
        if args.before:
            export_before(args.before, Path(folder))
            names.append("before")
        return measure_servers(args, names)


def measure_servers(args: argparse.Namespace, names: list[str]) -> Path:
    clients = [int(c) for c in args.clients.split(",")]
    mode = "pinned" if args.pin else "unpinned"
    if args.pipeline > 1:
        mode += f"-P{args.pipeline}"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or HERE / "results" / f"{stamp}-{mode}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    where = provenance() | {"before": args.before}
    total, n = args.reps * len(clients) * len(names), 0
    with out.open("a") as sink:
        for rep in range(1, args.reps + 1):
            order = names[rep - 1 :] + names[: rep - 1]  # rotate each repetition
            for c in clients:
                for name in order:
                    n += 1
                    report = one_run(name, c, rep, args)
                    report["bench"].update(where)
                    sink.write(json.dumps(report) + "\n")
                    sink.flush()
                    print(f"[{n}/{total}] {progress_line(report)}", flush=True)
    return out


def progress_line(r: dict) -> str:
    b = r["bench"]
    if "requests_per_s" not in r:
        return f"rep {b['rep']} C={b['clients']} {b['server']}: kvbench failed"
    return (
        f"rep {b['rep']} C={b['clients']:<4} {b['server']:<9} "
        f"{r['requests_per_s']:>10,.0f} req/s  p99 {r['latency_ms']['p99']} ms  "
        f"first reply {r.get('first_reply_ms')} ms  "
        f"errors {r['errors']['total']}  load {b['loadavg']:.1f}"
    )


def median_of(runs: list[dict], pick: Any) -> float | None:
    values = [pick(r) for r in runs if "requests_per_s" in r]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(path: Path) -> str:
    """The table of medians per (server, C), and the reference's ratios per C."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line]
    cells: dict[tuple[str, int], list[dict]] = {}
    for r in runs:
        cells.setdefault((r["bench"]["server"], r["bench"]["clients"]), []).append(r)
    lines = [
        f"{path.name}: {len(runs)} runs, medians",
        "",
        "| server | C | requests/s (min–max) | p99 ms | worst first reply ms "
        "| peak RSS MiB | threads | errors (runs with errors) | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, c), group in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(table_row(name, c, group))
    lines += [
        "",
        *(ratio_line(cells, other) for other in ("naive", "asyncio", "before")),
    ]
    return "\n".join(lines)


def table_row(name: str, c: int, group: list[dict]) -> str:
    ok = [r for r in group if "requests_per_s" in r]
    rates = [r["requests_per_s"] for r in ok]
    spread = f"{min(rates):,.0f}–{max(rates):,.0f}" if rates else "-"
    rps = median_of(group, lambda r: r["requests_per_s"])
    p99 = median_of(group, lambda r: r["latency_ms"]["p99"])
    first = [r.get("first_reply_ms") for r in ok]
    worst = max(first) if first and None not in first else None
    rss = median_of(group, lambda r: server_figure(r, "peak_rss_mib"))
    threads = median_of(group, lambda r: server_figure(r, "threads_max"))
    errors = [r["errors"]["total"] for r in ok]
    failed = len(group) - len(ok)
    bad = sum(1 for e in errors if e) + failed
    return (
        f"| {name} | {c} | {fmt(rps, ',.0f')} ({spread}) | {fmt(p99, '.2f')} "
        f"| {fmt(worst, ',.0f')} "
        f"| {fmt(rss, '.1f')} | {fmt(threads, '.0f')} | {sum(errors)} ({bad}) "
        f"| {len(group)} |"
    )


def server_figure(report: dict, key: str) -> float | None:
    server = report.get("server")
    return server.get(key) if isinstance(server, dict) else None


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def ratio_line(cells: dict[tuple[str, int], list[dict]], other: str) -> str:
    parts = []
    for c in sorted({c for _, c in cells}):
        ref = median_of(cells.get(("reference", c), []), lambda r: r["requests_per_s"])
        them = median_of(cells.get((other, c), []), lambda r: r["requests_per_s"])
        if ref and them:
            parts.append(f"C={c}: {ref / them:.2f}")
    return f"reference / {other} (ratio of medians): " + (", ".join(parts) or "-")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    if args.pin and not shutil.which("taskset"):
        print("run.py: --pin needs taskset (util-linux)", file=sys.stderr)
        return 2
    out = measure(args)
    print(f"\nwritten: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}\n")
    print(summarize(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
