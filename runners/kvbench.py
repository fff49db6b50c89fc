"""kvbench: a load generator for any server that speaks the P0 protocol.

Usage: ``python runners/kvbench.py --host 127.0.0.1 --port 9999 [options]``
(or ``python -m runners.kvbench``); ``--help`` lists the options.

Theory of operation
-------------------
The main process checks the arguments, resolves the host once, and makes one
test connection (none: exit 2). It then starts ``--procs`` worker processes,
so that the generator is not the bottleneck, and deals the ``C`` connections
out among them. Each worker drives its share with one ``selectors`` event
loop over non-blocking sockets: no thread per connection. Workers are
started with "spawn" on every system, so none inherits a copy of the
caller's threads or locks.

Every worker says "up" on the ``results`` queue; when all are up, the main
process sets the ``go`` event. From then on each worker keeps its own
clock: connect everything, ``--warmup`` seconds of load that are not
counted, then ``--duration`` seconds that are. Its loop ends at that
deadline (or early, when the main process sets ``stop`` on Ctrl-C, or when
none of its connections is left). It then sends its figures on ``results``
and ends; the main process merges them and prints the report. Workers ignore
SIGINT: Ctrl-C is the main process's business.

One iteration of a connection (``--mix``):

* ``pgd``: ``Put:k:v``, ``Get:k``, ``Delete:k`` in one write; reply ``k:v``.
* ``pugd``: ``Put:k:v``, ``Update:k:v:w``, ``Get:k``, ``Delete:k``; reply
  ``k:w``.
* ``get``: ``Get:k`` of a key loaded with ``--vals N`` values when the
  connection opens; reply: the N lines ``k:v1`` ... ``k:vN``.

Every connection has its own key and every value carries the iteration's
number, so each reply line is known in advance and is checked byte for
byte. A connection whose reply is wrong is counted and closed: once one line
is wrong, nothing after it on that stream can be trusted. ``-P N`` keeps N
iterations in flight per connection; each reply that completes one sends
the next. Latency is per iteration, from its write to its last reply line.

``--slow N`` adds N connections that Put one value, write ``--slow-gets``
Gets for it, and read nothing during the run: the server must drop their
replies without stalling anybody else. After the run they read what reached
them (for a short, bounded while) to report how many replies were delivered.

Errors, each counted once per connection: a wrong reply line (mismatch); a
connect that fails, or has not finished when the run ends; a connection the
server closes or resets (dropped); a connection that connected but got no
reply in the whole run (never served: the server did not accept it in time,
or does not answer). Iterations still in flight at the end are no error.

Ownership: each worker owns its sockets, selector and figures. It shares
two numbers with the main process (iterations done, errors), which only
it writes, in a small shared array read for the progress line. The main
process owns the report and, with ``--server-pid``, samples the server's
``/proc/PID/status`` and ``/proc/PID/stat`` while it waits (Linux only).

The figures are only as good as the machine: client and server share its
CPUs. To give each its own core on Linux, start them under ``taskset -c``.

Exit status: 0 no errors; 1 some errors; 2 bad arguments or no connection
at all; 130 interrupted by Ctrl-C (the figures so far are still printed).
"""

from __future__ import annotations

import argparse
import array
import contextlib
import errno
import json
import math
import multiprocessing
import os
import queue
import selectors
import shlex
import signal
import socket
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, Python puts runners/ on sys.path, not the folder above it;
# this line makes ``import runners`` work from any directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runners.cli import add_address_options

MIXES = ("pgd", "pugd", "get")
LINES_PER_ITERATION = {"pgd": 3, "pugd": 4, "get": 1}  # request lines
MAX_SAMPLES = 5  # error messages kept for the report, per worker
RECV_SIZE = 256 * 1024
TICK = 0.1  # seconds: how often loops look at the clock, flags and /proc
STARTUP_TIMEOUT = 60.0  # seconds for the workers to start and say "up"
RESULTS_GRACE = 10.0  # seconds past a worker's deadline before it is killed
DRAIN_QUIET = 0.25  # slow connections: stop reading after this much silence
DRAIN_MAX = 2.0  # ... or after this long in all
PROBE_TIMEOUT = 3.0  # seconds for the first test connection
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem that exit status 2 reports: bad arguments, no server."""


# ----- the plan: what one worker is asked to do (picklable) ------------------


@dataclass(frozen=True)
class Settings:
    """The run's parameters, as every worker needs them."""

    family: int  # the resolved address: connect to exactly this
    address: tuple
    mix: str
    pipeline: int
    vals: int
    vsize: int
    slow_vsize: int
    slow_gets: int
    warmup: float
    duration: float
    grace: float  # past the deadline, for a connection's first reply
    tag: str  # unique to this run: keys of two runs never meet


@dataclass(frozen=True)
class Plan:
    index: int  # the worker's number; its slots in the progress array
    conn_ids: list[int]
    slow_ids: list[int]


# ----- what a mix sends and expects ------------------------------------------


def number_value(tag: bytes, n: int, size: int) -> bytes:
    """A value of exactly ``size`` bytes: ``tag`` then the digits of ``n``."""
    width = max(size - len(tag), 0)
    digits = str(n).zfill(width)[-width:] if width else ""
    return (tag + digits.encode())[:size]


class Mix:
    """The requests and the expected reply lines of one mix, for one key."""

    def __init__(self, settings: Settings, key: bytes) -> None:
        self.name = settings.mix
        self.key = key
        self.size = settings.vsize
        values = [number_value(b"v", i, self.size) for i in range(settings.vals)]
        self._get_request = b"Get:%s\n" % key
        self._get_preload = b"".join(b"Put:%s:%s\n" % (key, v) for v in values)
        self._get_replies = [b"%s:%s" % (key, v) for v in values]

    def preload(self) -> bytes:
        """What to send once, right after connecting."""
        return self._get_preload if self.name == "get" else b""

    def iteration(self, n: int) -> tuple[bytes, list[bytes]]:
        """Iteration ``n``'s requests, and its reply lines without ``\\n``."""
        if self.name == "get":
            return self._get_request, self._get_replies
        k, v = self.key, number_value(b"v", n, self.size)
        if self.name == "pgd":
            return b"Put:%s:%s\nGet:%s\nDelete:%s\n" % (k, v, k, k), [b"%s:%s" % (k, v)]
        w = number_value(b"u", n, self.size)
        requests = b"Put:%s:%s\nUpdate:%s:%s:%s\nGet:%s\nDelete:%s\n" % (
            k, v, k, v, w, k, k)  # fmt: skip
        return requests, [b"%s:%s" % (k, w)]


# ----- one connection --------------------------------------------------------


class Conn:
    """One connection's socket and state. Owned by one worker's event loop.

    ``expected`` holds the reply lines still due, in order, each with the
    time its iteration was written if it is that iteration's last line
    (None otherwise).
    """

    def __init__(self, cid: int, sock: socket.socket, mix: Mix, slow: bool) -> None:
        self.cid = cid
        self.sock = sock
        self.mix = mix
        self.slow = slow
        self.connecting = True
        self.inbuf = b""  # the start of a reply line still to be completed
        self.outbuf = bytearray()  # written, not yet accepted by the kernel
        self.expected: deque[tuple[bytes, float | None]] = deque()
        self.next_n = 0
        self.connected_at: float | None = None  # its connect completed
        self.served_at: float | None = None  # its first iteration completed


# ----- a worker's figures ----------------------------------------------------


@dataclass
class Figures:
    """What one worker measured; summed over workers by the main process."""

    measured: int = 0  # iterations completed inside the measured window
    window_s: float = 0.0  # the measured window's length, if Ctrl-C cut it
    latencies: array.array = field(default_factory=lambda: array.array("d"))
    connected: int = 0  # normal connections
    slow_connected: int = 0
    mismatches: int = 0
    connect_failures: int = 0
    dropped: int = 0
    never_served: int = 0
    samples: list[str] = field(default_factory=list)
    ready_s: float | None = None  # until its last connection was served once
    first_reply_s: float | None = None  # the longest from connected to served
    slow_delivered: int = 0
    cpu_s: float = 0.0  # this process's CPU time inside the measured window

    def errors(self) -> int:
        return (
            self.mismatches + self.connect_failures + self.dropped + self.never_served
        )

    def note(self, message: str) -> None:
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(message)


# ----- the worker process ----------------------------------------------------


class Worker:
    """One process's event loop over its share of the connections."""

    def __init__(self, settings: Settings, plan: Plan, progress: Any) -> None:
        self.settings = settings
        self.plan = plan
        self.progress = progress  # shared: [2*i] iterations done, [2*i+1] errors
        self.selector = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.live = 0  # normal connections still open or connecting
        self.figures = Figures()
        self.done = 0  # iterations completed, warm-up included
        self.start = self.measure_from = self.end = 0.0
        self.cpu_from: float | None = None

    def run(self, stop: Any) -> Figures:
        """Connect, load, measure until the deadline or ``stop``; return figures."""
        self.start = time.perf_counter()
        self.measure_from = self.start + self.settings.warmup
        self.end = self.measure_from + self.settings.duration
        self.open_all()
        try:
            self.loop(stop)
            self.finish_window()
            self.serve_the_unserved(stop)
            self.drain_slow()
        finally:
            self.close_all(slow=False)
            self.close_all(slow=True)
            self.selector.close()
        self.check_ready()
        return self.figures

    # -- connecting

    def open_all(self) -> None:
        for cid in self.plan.conn_ids:
            self.open(cid, slow=False)
        for cid in self.plan.slow_ids:
            self.open(cid, slow=True)

    def open(self, cid: int, slow: bool) -> None:
        key = f"kvb{self.settings.tag}c{cid}".encode()
        sock = socket.socket(self.settings.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        conn = Conn(cid, sock, Mix(self.settings, key), slow)
        self.conns.append(conn)
        self.live += not slow
        code = sock.connect_ex(self.settings.address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            self.connect_failed(conn, code)
            return
        self.selector.register(sock, selectors.EVENT_WRITE, conn)

    def connect_failed(self, conn: Conn, code: int) -> None:
        self.figures.connect_failures += 1
        self.figures.note(f"connection {conn.cid}: connect failed: {os.strerror(code)}")
        self.retire(conn)

    def on_connected(self, conn: Conn) -> None:
        conn.connecting = False
        conn.connected_at = time.perf_counter()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if conn.slow:
            self.figures.slow_connected += 1
            self.write(conn, self.slow_requests(conn))
            return
        self.figures.connected += 1
        self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
        self.write(conn, conn.mix.preload())
        self.send_iterations(conn, self.settings.pipeline)

    def slow_requests(self, conn: Conn) -> bytes:
        key = conn.mix.key
        value = number_value(b"s", conn.cid, self.settings.slow_vsize)
        conn.expected.append((b"%s:%s" % (key, value), None))
        get = b"Get:%s\n" % key
        return b"Put:%s:%s\n" % (key, value) + get * self.settings.slow_gets

    # -- the event loop

    def loop(self, stop: Any) -> None:
        next_tick = 0.0
        while self.live:
            now = time.perf_counter()
            if now >= next_tick:
                if now >= self.end or stop.is_set():
                    break
                self.tick(now)
                next_tick = now + TICK
            for key, mask in self.selector.select(timeout=TICK):
                self.on_event(key.data, mask)

    def tick(self, now: float) -> None:
        """Publish progress; note the CPU clock when the window opens."""
        if self.cpu_from is None and now >= self.measure_from:
            self.cpu_from = time.process_time()
        self.progress[2 * self.plan.index] = self.done
        self.progress[2 * self.plan.index + 1] = self.figures.errors()

    def on_event(self, conn: Conn, mask: int) -> None:
        if conn.connecting:
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.connect_failed(conn, code)
            else:
                self.on_connected(conn)
            return
        if mask & selectors.EVENT_WRITE:
            self.flush(conn)
        if mask & selectors.EVENT_READ:
            self.on_readable(conn)

    def on_readable(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            self.drop(conn, f"reset ({error.strerror})")
            return
        if not data:
            self.drop(conn, "closed by the server")
            return
        *lines, conn.inbuf = (conn.inbuf + data).split(b"\n")
        completed = self.check_lines(conn, lines, time.perf_counter())
        if completed and conn.sock.fileno() >= 0:
            self.send_iterations(conn, completed)

    def check_lines(self, conn: Conn, lines: list[bytes], now: float) -> int:
        """Match reply lines with the expected ones; return iterations completed."""
        completed = 0
        for line in lines:
            want, sent_at = conn.expected.popleft() if conn.expected else (None, None)
            if line != want:
                self.mismatch(conn, want, line)
                return 0
            if sent_at is not None:
                completed += 1
                self.complete(conn, sent_at, now)
        return completed

    def complete(self, conn: Conn, sent_at: float, now: float) -> None:
        self.done += 1
        if conn.served_at is None:
            conn.served_at = now
        if self.measure_from <= now < self.end:
            self.figures.measured += 1
            self.figures.latencies.append(now - sent_at)

    def send_iterations(self, conn: Conn, count: int) -> None:
        """Write ``count`` more iterations as one write; note what they expect."""
        parts = []
        now = time.perf_counter()
        for _ in range(count):
            requests, replies = conn.mix.iteration(conn.next_n)
            conn.next_n += 1
            parts.append(requests)
            conn.expected.extend((line, None) for line in replies[:-1])
            conn.expected.append((replies[-1], now))
        self.write(conn, b"".join(parts))

    # -- writing

    def write(self, conn: Conn, data: bytes) -> None:
        """Send ``data`` now if the socket takes it; keep the rest for later."""
        if conn.sock.fileno() < 0:
            return  # retired a moment ago (a failed send): count it only once
        if conn.outbuf:  # already waiting for the socket: keep the order
            conn.outbuf += data
            return
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.drop(conn, f"send failed ({error.strerror})")
            return
        if sent < len(data):
            conn.outbuf += data[sent:]
            self.watch(conn, writing=True)

    def flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
        except BlockingIOError:
            return
        except OSError as error:
            self.drop(conn, f"send failed ({error.strerror})")
            return
        del conn.outbuf[:sent]
        if not conn.outbuf:
            self.watch(conn, writing=False)

    def watch(self, conn: Conn, writing: bool) -> None:
        """Select what to wait for: slow connections never read in the run."""
        events = 0 if conn.slow else selectors.EVENT_READ
        if writing:
            events |= selectors.EVENT_WRITE
        if events:
            self.selector.modify(conn.sock, events, conn)
        else:
            self.selector.unregister(conn.sock)

    # -- errors and the end of a connection

    def mismatch(self, conn: Conn, want: bytes | None, got: bytes) -> None:
        self.figures.mismatches += 1
        wanted = "no reply" if want is None else repr(want + b"\n")
        got_line = got + b"\n"
        self.figures.note(f"connection {conn.cid}: expected {wanted}, got {got_line!r}")
        self.retire(conn)

    def drop(self, conn: Conn, why: str) -> None:
        self.figures.dropped += 1
        self.figures.note(f"connection {conn.cid}: {why}")
        self.retire(conn)

    def retire(self, conn: Conn) -> None:
        """Close a connection for good; the loop ends when none is left."""
        if conn.sock.fileno() < 0:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        conn.sock.close()
        self.live -= not conn.slow

    def finish_window(self) -> None:
        now = time.perf_counter()
        self.end = min(self.end, now)  # Ctrl-C or no connection left: stop here
        self.figures.window_s = max(self.end - self.measure_from, 0.0)
        if self.cpu_from is not None:
            self.figures.cpu_s = time.process_time() - self.cpu_from
        self.tick(now)

    def serve_the_unserved(self, stop: Any) -> None:
        """Past the deadline, wait up to ``--grace`` seconds for the connections
        still connecting or not served yet. A short run on a busy machine can
        end before the server got to them: slowness, which the figures show,
        not a connection "never served". Nothing done now is counted."""
        deadline = time.perf_counter() + self.settings.grace
        while not stop.is_set() and time.perf_counter() < deadline:
            if all(c.served_at for c in self.open_conns(slow=False)):
                return
            for key, mask in self.selector.select(timeout=TICK):
                self.on_event(key.data, mask)

    def drain_slow(self) -> None:
        """Read what reached the slow connections, until quiet or DRAIN_MAX.

        The normal connections are closed first; a fresh selector then holds
        only the slow ones, all waiting to read.
        """
        self.close_all(slow=False)
        self.selector.close()
        self.selector = selectors.DefaultSelector()
        for conn in self.open_conns(slow=True):
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
        deadline = time.perf_counter() + DRAIN_MAX
        while self.selector.get_map() and time.perf_counter() < deadline:
            events = self.selector.select(timeout=DRAIN_QUIET)
            if not events:
                break
            for key, _ in events:
                self.read_slow(key.data)

    def open_conns(self, slow: bool) -> list[Conn]:
        """The connections of one kind still open, connecting or not."""
        return [c for c in self.conns if c.slow == slow and c.sock.fileno() >= 0]

    def read_slow(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except OSError:
            data = b""
        if not data:
            self.retire(conn)
            return
        *lines, conn.inbuf = (conn.inbuf + data).split(b"\n")
        want = conn.expected[0][0]
        for line in lines:
            if line != want:
                self.mismatch(conn, want, line)
                return
        self.figures.slow_delivered += len(lines)

    def close_all(self, slow: bool) -> None:
        """Close one kind of connection; connects never finished count as failed."""
        for conn in self.open_conns(slow):
            if conn.connecting:
                self.connect_failed(conn, errno.ETIMEDOUT)
            else:
                self.say_goodbye(conn)
                self.retire(conn)

    def say_goodbye(self, conn: Conn) -> None:
        """Best effort: delete this connection's key, so the server keeps nothing."""
        with contextlib.suppress(OSError):
            conn.sock.send(b"Delete:%s\n" % conn.mix.key)

    def check_ready(self) -> None:
        """Count connections that connected but were never served; note ready."""
        normal = [c for c in self.conns if not c.slow]
        for conn in normal:
            if conn.served_at is None and not conn.connecting:
                self.figures.never_served += 1
                self.figures.note(f"connection {conn.cid}: never got a reply")
        served = [c for c in normal if c.served_at is not None]
        if served:
            self.figures.first_reply_s = max(
                c.served_at - c.connected_at for c in served
            )
        if len(served) == len(normal):
            self.figures.ready_s = max(c.served_at for c in served) - self.start


def worker_main(
    settings: Settings, plan: Plan, progress: Any, go: Any, stop: Any, results: Any
) -> None:
    """A worker process's body: wait for ``go``, run, post the figures.

    A worker that fails posts its traceback instead, so the main process
    never waits for figures that will not come.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process sets stop
    raise_fd_limit()
    results.put(("up", plan.index))
    go.wait()
    try:
        figures = Worker(settings, plan, progress).run(stop)
    except Exception:
        results.put(("failed", plan.index, traceback.format_exc()))
        return
    results.put(("figures", plan.index, figures))


def raise_fd_limit() -> None:
    """Allow as many sockets as the system lets this user have (Unix)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ----- the server's resources (Linux /proc) ----------------------------------


class ServerSampler:
    """Samples a local server's memory, threads and CPU; owned by the main process.

    Peak RSS is the kernel's high-water mark (VmHWM), the peak since the
    server started. On systems without /proc it reports "unavailable".
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.hwm_kib = self.rss_kib = self.start_rss_kib = self.threads = 0
        self.cpu_marks: list[tuple[float, float]] = []  # (time, CPU seconds)
        self.available = Path(f"/proc/{pid}/status").exists()

    def sample(self, now: float, in_window: bool) -> None:
        if not self.available:
            return
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return  # the server has gone: keep what was seen
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        self.hwm_kib = max(self.hwm_kib, int(fields["VmHWM"].split()[0]))
        self.rss_kib = int(fields["VmRSS"].split()[0])
        self.start_rss_kib = self.start_rss_kib or self.rss_kib
        self.threads = max(self.threads, int(fields["Threads"]))
        if in_window:
            self.cpu_marks.append((now, cpu_seconds(stat)))

    def report(self) -> dict[str, Any] | str:
        if not self.available:
            return "unavailable"
        return {
            "pid": self.pid,
            "peak_rss_mib": round(self.hwm_kib / 1024, 1),
            "rss_mib": round(self.rss_kib / 1024, 1),
            "start_rss_mib": round(self.start_rss_kib / 1024, 1),
            "threads_max": self.threads,
            "cpu_cores": self.cpu_cores(),
        }

    def cpu_cores(self) -> float | None:
        """CPU seconds the server used per second of the measured window."""
        if len(self.cpu_marks) < 2:
            return None
        (t0, cpu0), (t1, cpu1) = self.cpu_marks[0], self.cpu_marks[-1]
        return round((cpu1 - cpu0) / (t1 - t0), 2)


def cpu_seconds(stat: str) -> float:
    """User plus system CPU time from the text of /proc/PID/stat."""
    fields = stat.rsplit(")", 1)[1].split()  # the name, in (), may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----- the command line ------------------------------------------------------


def bounded(kind: type, least: float, what: str) -> Any:
    """An argparse type: ``kind`` of ``text``, at least ``least``."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value < least:
            raise ValueError(text)
        return value

    parse.__name__ = what  # argparse names the type in its message
    return parse


POSITIVE_INT = bounded(int, 1, "positive integer")
COUNT = bounded(int, 0, "non-negative integer")
SECONDS = bounded(float, 0.0, "non-negative number of seconds")
DURATION = bounded(float, 0.01, "duration of at least 0.01 s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kvbench",
        description="Load a P0 key-value server, check every reply, report.",
    )
    add_address_options(parser, port_help="default: %(default)s")
    add = parser.add_argument
    add("-c", "--connections", type=POSITIVE_INT, default=10, help="default: 10")
    add("-d", "--duration", type=DURATION, default=3.0, help="seconds measured")
    add("--warmup", type=SECONDS, default=0.5, help="seconds before, not counted")
    add(
        "--grace",
        type=SECONDS,
        default=10.0,
        help="seconds after, for a connection's first reply, before it counts as "
        "never served (default: %(default)s)",
    )
    add("--mix", choices=MIXES, default="pgd", help="default: pgd")
    add("-P", "--pipeline", type=POSITIVE_INT, default=1, help="iterations in flight")
    add("--vals", type=POSITIVE_INT, default=5, help="values per key, mix get")
    add("--vsize", type=POSITIVE_INT, default=16, help="value bytes; default: 16")
    add("--slow", type=COUNT, default=0, help="extra connections that never read")
    add("--slow-vsize", type=POSITIVE_INT, default=1024, help="default: 1024")
    add("--slow-gets", type=POSITIVE_INT, default=20000, help="default: 20000")
    add("--procs", type=POSITIVE_INT, default=min(4, os.cpu_count() or 1))
    add("--server-pid", type=POSITIVE_INT, help="sample its RSS and threads (Linux)")
    add("--json", action="store_true", help="print one JSON object instead")
    return parser.parse_args(argv)


def resolve(host: str, port: int) -> tuple[int, tuple]:
    """The one address every connection goes to."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except OSError as error:
        raise UsageError(f"cannot resolve {host}: {error}") from None
    return family, address


def probe(family: int, address: tuple, shown: str) -> None:
    """Connect once, so that "no server there" is one clear message."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            sock.connect(address)
    except OSError as error:
        why = error.strerror or str(error)
        raise UsageError(f"cannot connect to {shown}: {why}") from None


def check_server_pid(pid: int | None) -> None:
    """Where /proc exists (Linux), the process must too."""
    has_proc = Path("/proc/self/status").exists()
    if pid and has_proc and not Path(f"/proc/{pid}/status").exists():
        raise UsageError(f"--server-pid {pid}: no such process")


def settings_from(args: argparse.Namespace, family: int, address: tuple) -> Settings:
    return Settings(
        family=family,
        address=address,
        mix=args.mix,
        pipeline=args.pipeline,
        vals=args.vals,
        vsize=args.vsize,
        slow_vsize=args.slow_vsize,
        slow_gets=args.slow_gets,
        warmup=args.warmup,
        duration=args.duration,
        grace=args.grace,
        tag=f"{os.getpid()}t{time.time_ns() % 10**9}",
    )


def make_plans(args: argparse.Namespace) -> list[Plan]:
    """Deal the connections out to the workers in turn; no worker idles."""
    procs = min(args.procs, args.connections)
    total = args.connections + args.slow  # slow connections are numbered last
    return [
        Plan(
            index=i,
            conn_ids=list(range(i, args.connections, procs)),
            slow_ids=list(range(args.connections + i, total, procs)),
        )
        for i in range(procs)
    ]


# ----- the main process: start, watch and stop the workers -------------------


class Run:
    """The main process's side of one run. Owns the workers and their results."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args = args
        self.plans = make_plans(args)
        self.ctx = multiprocessing.get_context("spawn")
        self.progress = self.ctx.Array("q", 2 * len(self.plans), lock=False)
        self.go, self.stop = self.ctx.Event(), self.ctx.Event()
        self.results = self.ctx.Queue()
        self.worker_args = (settings, self.progress, self.go, self.stop, self.results)
        self.workers: list[Any] = []
        self.figures: dict[int, Figures] = {}
        self.failures: dict[int, str] = {}  # worker index: its traceback
        self.sampler = ServerSampler(args.server_pid) if args.server_pid else None
        self.progress_line = ProgressLine(LINES_PER_ITERATION[args.mix])
        self.interrupted = False

    def execute(self) -> None:
        """Run the workers to their end; Ctrl-C stops them early."""
        try:
            self.start_workers()
            self.watch()
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop.set()
            self.collect(time.monotonic() + RESULTS_GRACE)
        finally:
            self.progress_line.close()
            self.end_workers()

    def start_workers(self) -> None:
        settings, *shared = self.worker_args
        for plan in self.plans:
            worker = self.ctx.Process(
                target=worker_main,
                args=(settings, plan, *shared),
                name=f"kvbench-worker-{plan.index}",
            )
            worker.start()
            self.workers.append(worker)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        up = 0
        while up < len(self.plans):
            if time.monotonic() > deadline or not self.all_alive():
                raise RuntimeError("kvbench: a worker process failed to start")
            up += self.receive() == "up"

    def watch(self) -> None:
        """Start the clock; sample and show progress until every worker is done."""
        self.go.set()
        start = time.monotonic()
        opens, ends = start + self.args.warmup, start + self.args.warmup
        ends += self.args.duration
        self.collect(ends + DRAIN_MAX + RESULTS_GRACE, start, (opens, ends))

    def collect(
        self, deadline: float, start: float = 0.0, window: tuple = (0.0, 0.0)
    ) -> None:
        """Take results until every worker has reported, or ``deadline``."""
        while not self.all_reported() and time.monotonic() < deadline:
            self.receive()
            now = time.monotonic()
            if self.sampler:
                self.sampler.sample(now, window[0] <= now <= window[1])
            if start:
                phase = phase_name(now, window)
                self.progress_line.update(now - start, phase, self.progress)
            if self.silent_dead() and self.results.empty():
                break  # a worker died without a word (killed, out of memory)

    def receive(self) -> str | None:
        """Wait up to TICK for one message from a worker; file it; return its kind."""
        try:
            kind, index, *payload = self.results.get(timeout=TICK)
        except queue.Empty:
            return None
        if kind == "figures":
            self.figures[index] = payload[0]
        elif kind == "failed":
            self.failures[index] = payload[0]
        return kind

    def all_reported(self) -> bool:
        return len(self.figures) + len(self.failures) == len(self.plans)

    def all_alive(self) -> bool:
        return all(worker.is_alive() for worker in self.workers)

    def silent_dead(self) -> bool:
        """Whether a worker ended without reporting. One that reported and
        ended is no news: the others may still be draining their slow
        connections."""
        reported = self.figures.keys() | self.failures.keys()
        return any(
            not worker.is_alive() and index not in reported
            for index, worker in enumerate(self.workers)
        )

    def end_workers(self) -> None:
        """Join every worker; one that does not end in time is terminated."""
        self.stop.set()
        self.go.set()  # a worker still waiting to start goes straight to its end
        for worker in self.workers:
            worker.join(timeout=RESULTS_GRACE)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        self.results.close()
        self.results.join_thread()


def phase_name(now: float, window: tuple[float, float]) -> str:
    if now < window[0]:
        return "warm-up"
    return "measuring" if now < window[1] else "finishing"


class ProgressLine:
    """A status line on stderr once a second: overwritten on a terminal."""

    def __init__(self, lines_per_iteration: int) -> None:
        self.lines = lines_per_iteration
        self.tty = sys.stderr.isatty()
        self.last_at = 0.0
        self.last_done = 0
        self.shown = False

    def update(self, elapsed: float, phase: str, progress: Any) -> None:
        if elapsed < self.last_at + 1.0:
            return
        done, errors = sum(progress[0::2]), sum(progress[1::2])
        rate = (done - self.last_done) * self.lines / (elapsed - self.last_at)
        self.last_at, self.last_done = elapsed, done
        text = f"kvbench: {elapsed:5.1f} s  {phase:9}  {rate:10,.0f} requests/s  "
        text += f"errors {errors}"
        if self.tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)
        self.shown = True

    def close(self) -> None:
        if self.tty and self.shown:
            print(file=sys.stderr, flush=True)  # end the overwritten line


# ----- the report ------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of a sorted list; None if it is empty."""
    if not ordered:
        return None
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def summarize(run: Run, command: str) -> dict[str, Any]:
    """Merge the workers' figures into the report's numbers."""
    args, parts = run.args, list(run.figures.values())
    per_iteration = LINES_PER_ITERATION[args.mix]
    measured = sum(f.measured for f in parts)
    seconds = max([f.window_s for f in parts if f.window_s > 0], default=args.duration)
    readies = [f.ready_s for f in parts]
    return {
        "command": command,
        "target": f"{args.host}:{args.port}",
        "mix": args.mix,
        "connections": args.connections,
        "pipeline": args.pipeline,
        "procs": len(run.plans),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "measured_s": round(seconds, 3),
        "requests_per_iteration": per_iteration,
        "iterations": measured,
        "requests": measured * per_iteration,
        "iterations_per_s": round(measured / seconds, 1),
        "requests_per_s": round(measured * per_iteration / seconds, 1),
        "latency_ms": latency_summary(parts),
        "connected": sum(f.connected for f in parts),
        "ready_ms": ms(max(readies)) if parts and None not in readies else None,
        "first_reply_ms": first_reply_ms(parts),
        "errors": error_summary(run, parts),
        "error_samples": error_samples(run, parts),
        "client_cpu_cores": round(sum(f.cpu_s for f in parts) / seconds, 2),
        "slow": slow_summary(args, parts),
        "server": run.sampler.report() if run.sampler else None,
        "interrupted": run.interrupted,
    }


def first_reply_ms(parts: list[Figures]) -> float | None:
    """The longest any served connection waited, from its connect completing
    to its first iteration's reply; None if none was served. A connection
    never served is not in it: it counts among the errors."""
    waits = [f.first_reply_s for f in parts if f.first_reply_s is not None]
    return ms(max(waits)) if waits else None


def latency_summary(parts: list[Figures]) -> dict[str, float | None]:
    ordered = sorted(x for f in parts for x in f.latencies)
    return {
        "p50": ms(percentile(ordered, 0.50)),
        "p99": ms(percentile(ordered, 0.99)),
        "max": ms(ordered[-1] if ordered else None),
    }


def error_summary(run: Run, parts: list[Figures]) -> dict[str, int]:
    kinds = ("mismatches", "connect_failures", "dropped", "never_served")
    errors = {kind: sum(getattr(f, kind) for f in parts) for kind in kinds}
    errors["workers_failed"] = len(run.plans) - len(parts)
    return {"total": sum(errors.values()), **errors}


def error_samples(run: Run, parts: list[Figures]) -> list[str]:
    failed = [
        f"worker {index} failed: {trace.strip().splitlines()[-1]}"
        for index, trace in run.failures.items()
    ]
    return (failed + [s for f in parts for s in f.samples])[:MAX_SAMPLES]


def slow_summary(args: argparse.Namespace, parts: list[Figures]) -> dict | None:
    if not args.slow:
        return None
    return {
        "connections": args.slow,
        "connected": sum(f.slow_connected for f in parts),
        "value_bytes": args.slow_vsize,
        "gets_each": args.slow_gets,
        "replies_owed": args.slow * args.slow_gets,
        "replies_delivered": sum(f.slow_delivered for f in parts),
    }


def render(report: dict[str, Any]) -> str:
    """The report as text for a person."""
    lat, err = report["latency_ms"], report["errors"]
    lines = [
        f"kvbench {report['target']}  mix {report['mix']}  "
        f"C={report['connections']}  P={report['pipeline']}  "
        f"{report['measured_s']} s measured after {report['warmup_s']} s warm-up  "
        f"({report['procs']} worker processes)",
        f"requests/s   {report['requests_per_s']:>12,.0f}  "
        f"({report['requests_per_iteration']} request lines an iteration)",
        f"iterations/s {report['iterations_per_s']:>12,.0f}  "
        f"({report['iterations']:,} measured)",
        f"latency ms   p50 {lat['p50']}  p99 {lat['p99']}  max {lat['max']}  "
        "(per iteration, write to last reply line)",
        render_ready(report),
        f"errors       {err['total']}  (mismatches {err['mismatches']}, "
        f"connect failures {err['connect_failures']}, dropped {err['dropped']}, "
        f"never served {err['never_served']}, "
        f"workers failed {err['workers_failed']})",
        *(f"  {sample}" for sample in report["error_samples"]),
        f"client CPU   {report['client_cpu_cores']} cores",
    ]
    return "\n".join(lines + render_extras(report))


def render_ready(report: dict[str, Any]) -> str:
    connected = f"{report['connected']} of {report['connections']} connected"
    if report["ready_ms"] is None:
        ready = f"ready ms     -  ({connected}; not every one was served)"
    else:
        ready = f"ready ms     {report['ready_ms']}  ({connected}, all served once)"
    first = report["first_reply_ms"]
    worst = "-" if first is None else first
    never = report["errors"]["never_served"]
    also = f"; {never} never served" if never else ""
    return (
        f"{ready}\nfirst reply  worst {worst} ms after connecting"
        f"  (of those served{also})"
    )


def render_extras(report: dict[str, Any]) -> list[str]:
    lines = []
    server = report["server"]
    if isinstance(server, dict):
        lines.append(
            f"server       peak RSS {server['peak_rss_mib']} MiB (VmHWM), "
            f"RSS {server['rss_mib']} MiB (at start {server['start_rss_mib']}), "
            f"threads {server['threads_max']}, CPU {server['cpu_cores']} cores"
        )
    elif server:
        lines.append(f"server       RSS and threads {server}")
    slow = report["slow"]
    if slow:
        lines.append(
            f"slow         {slow['connected']} connections that never read: "
            f"{slow['replies_delivered']:,} of {slow['replies_owed']:,} replies "
            "delivered (every figure above is the normal connections')"
        )
    if report["interrupted"]:
        lines.append("interrupted  Ctrl-C cut the run short")
    return lines


def exit_status(report: dict[str, Any]) -> int:
    if report["interrupted"]:
        return EXIT_INTERRUPTED
    if report["connected"] == 0:
        return EXIT_USAGE  # not one connection: as good as no server
    return EXIT_ERRORS if report["errors"]["total"] else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # exits with status 2 on bad arguments
    command = shlex.join(sys.orig_argv if argv is None else ["kvbench", *argv])
    try:
        family, address = resolve(args.host, args.port)
        probe(family, address, f"{args.host}:{args.port}")
        check_server_pid(args.server_pid)
    except UsageError as error:
        print(f"kvbench: {error}", file=sys.stderr)
        return EXIT_USAGE
    run = Run(args, settings_from(args, family, address))
    try:
        run.execute()
    except RuntimeError as error:  # the workers could not even start
        print(error, file=sys.stderr)
        return EXIT_ERRORS
    report = summarize(run, command)
    print(json.dumps(report) if args.json else render(report), flush=True)
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
