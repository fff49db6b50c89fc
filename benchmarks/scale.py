"""Scale: a thousand clients at once against one server process.

Usage: ``python benchmarks/scale.py [--clients 1000] [--servers reference]
[--reps 3]``; ``--out FILE`` also writes one JSON line per run.

Theory of operation
-------------------
One run = one fresh server process, started and stopped as ``run.py`` does.
The script then, from one thread with non-blocking sockets:

1. connects ``--clients`` connections at once (the listen backlog must hold
   them) and sends on each ``Put:scale_N:value_N`` and ``Get:scale_N``;
2. waits until every connection has its own reply ``scale_N:value_N``,
   checked byte for byte ("served"), and notes how long that took;
3. reads the server's memory (VmRSS, and VmHWM, the peak since it started)
   and its thread count from ``/proc/PID/status``, with every client still
   connected and idle, after ``--hold`` seconds;
4. stops the server with SIGINT while all the clients are still connected,
   and times its ``close()``: ``srunner`` prints one line just before it
   calls ``close()`` and one just after, and the script timestamps both.

A client that is not served within ``--timeout`` seconds is an error, and
so is a wrong reply. Linux only (``/proc``). What the kit asks (issue 5):
1000 clients served and counted with the server under 64 MiB, and
``close()`` within 2 s. This script measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

from run import SERVERS, provenance, start_server, stop_server

CLOSING = b"received: closing the server"  # srunner, just before close()
CLOSED = b"Server closed."  # srunner, just after close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--clients", type=int, default=1000, help="connections at once")
    add("--servers", default="reference", help=f"comma-separated: {','.join(SERVERS)}")
    add("--reps", type=int, default=3, help="runs per server, interleaved")
    add("--hold", type=float, default=1.0, help="seconds idle before reading memory")
    add("--timeout", type=float, default=30.0, help="seconds to serve everyone")
    add("--out", type=Path, help="also append one JSON line per run here")
    return parser.parse_args(argv)


def status(pid: int) -> dict[str, str]:
    """The fields of ``/proc/PID/status``."""
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def mib(field: str) -> float:
    return round(int(field.split()[0]) / 1024, 1)  # "12345 kB"


def connect_all(port: int, clients: int) -> list[socket.socket]:
    """Start ``clients`` non-blocking connects at once; each is writable when done."""
    socks = []
    for _ in range(clients):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # EINPROGRESS
        socks.append(sock)
    return socks


def serve_all(socks: list[socket.socket], timeout: float) -> list[str]:
    """Ask on every connection, wait for every reply; return the errors."""
    selector = selectors.DefaultSelector()
    owed: dict[socket.socket, bytes] = {}  # what each still waits for
    for n, sock in enumerate(socks):
        request = b"Put:scale_%d:value_%d\nGet:scale_%d\n" % (n, n, n)
        owed[sock] = b"scale_%d:value_%d\n" % (n, n)
        selector.register(sock, selectors.EVENT_WRITE, request)
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    while owed and (left := deadline - time.monotonic()) > 0:
        for key, mask in selector.select(min(left, 1.0)):
            sock = key.fileobj
            if mask & selectors.EVENT_WRITE:
                if code := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    errors.append(f"connect failed: {os.strerror(code)}")
                    selector.unregister(sock)
                    del owed[sock]
                else:
                    sock.sendall(key.data)  # a few bytes: fit any socket buffer
                    selector.modify(sock, selectors.EVENT_READ, b"")
                continue
            want, got = owed[sock], key.data + sock.recv(4096)
            if got and len(got) < len(want):
                selector.modify(sock, selectors.EVENT_READ, got)  # more to come
                continue
            if got != want:
                errors.append(f"expected {want!r}, got {got!r}")
            selector.unregister(sock)
            del owed[sock]
    selector.close()
    return errors + [f"not served within {timeout} s"] * len(owed)


def time_close(server: object) -> float | None:
    """SIGINT the server; seconds from its "closing" line to its "closed" line."""
    server.send_signal(signal.SIGINT)
    marks: dict[bytes, float] = {}
    for line in server.stdout:  # ends when the server exits
        for mark in (CLOSING, CLOSED):
            if mark in line:
                marks[mark] = time.monotonic()
    if len(marks) < 2:
        return None
    return round(marks[CLOSED] - marks[CLOSING], 3)


def one_run(name: str, args: argparse.Namespace) -> dict:
    server, port = start_server(name, pin=False)
    socks: list[socket.socket] = []
    try:
        at_start = status(server.pid)
        started = time.monotonic()
        socks = connect_all(port, args.clients)
        errors = serve_all(socks, args.timeout)
        served_s = time.monotonic() - started
        time.sleep(args.hold)
        held = status(server.pid)
        close_s = time_close(server) if name == "reference" else None
    finally:
        stop_server(server)
        for sock in socks:
            sock.close()
    return {
        "server": name,
        "clients": args.clients,
        "served_s": round(served_s, 3),
        "errors": len(errors),
        "error_samples": errors[:5],
        "start_rss_mib": mib(at_start["VmRSS"]),
        "rss_mib": mib(held["VmRSS"]),
        "peak_rss_mib": mib(held["VmHWM"]),
        "threads": int(held["Threads"]),
        "close_s": close_s,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.servers.split(",")
    where = provenance()
    runs = []
    for rep in range(args.reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            run = one_run(name, args) | {"rep": rep + 1} | where
            runs.append(run)
            print(json.dumps(run), flush=True)
            if args.out:
                with args.out.open("a") as sink:
                    sink.write(json.dumps(run) + "\n")
    for name in names:
        mine = [r for r in runs if r["server"] == name]
        fields = ["served_s", "rss_mib", "peak_rss_mib", "threads", "close_s"]
        medians = {
            f: statistics.median(r[f] for r in mine if r[f] is not None)
            for f in fields
            if any(r[f] is not None for r in mine)
        }
        errors = sum(r["errors"] for r in mine)
        print(f"{name}: median of {len(mine)} runs {medians}, errors {errors}")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
