"""The test harness for partA: everything the suites share.

* ``CheckedStore``: the store the tests hand to the server. It notices a
  thread calling it after another with no message between the two calls
  (the ownership checker's rule), and two threads inside it at once, and
  names both.
* ``ServerUnderTest``: starts a server on a free port, calls into it with
  deadlines, and on ``close()`` checks that no thread or socket outlived it.
  Sockets are found the same way on every system: each ``socket.socket``
  made in this process is recorded as it is made (see ``_recorded``).
  It also watches the server with the ownership checker (``ownership.py``):
  state used by two threads with no message between them, and threads that
  ``close()`` did not join, fail the test.
* ``TestClient``: one connection, with a deadline on every read. It cuts its
  sends at seeded places (several requests in one piece, one request cut
  across two, waiting for the server to read each piece), so that framing
  bugs fail on every run; a key or value reaching the store that no client
  sent is reported as a cut request. A reset, an EOF or a broken pipe is
  reported in words: which client, doing what, and what the server did wrong.
* ``run_clients`` and ``expect_replies``: the clients at work on the
  classic workload (``workload.py``: Put or Update a key, then Get it, or
  Delete one; and every corner of the protocol table), each reply checked
  against what it is owed, and the store it must leave behind.
* A ``Timeline`` of what each client did, drawn as a page when a test fails
  (``picture.py``).

Nothing here sleeps to order events: tests wait for replies, or poll a
condition with ``wait_until`` and a deadline. Deadlines are ceilings that a
working server never comes near, however slow the machine (see
``Patience``); reaching one is reported in words, with where the server's
threads wait (``waits.py``). A server that can never move again (every
thread it started waits for another, or for a client that waits for the
server) fails at once, with why (``deadlock.py``): the waits that mark a
test thread as waiting for the server (``deadlock.test_waits``) are those
that do nothing else until it answers.

Nothing a test records outlives it: the checker's clocks are dropped when
its watch stops, the sockets and the server's ends are held weakly, and the
timeline, the store and the server go with the test's ``ServerUnderTest``.

Threads: the harness's own state that several threads touch is changed only
by single operations on one object (a list's ``append``, a set's ``add``, a
float or a tuple replaced whole), which need no lock with the interpreter
lock or without it (free-threaded CPython makes each such operation atomic
on its object). Counts kept that way would lose updates; none are.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
import math
import os
import queue
import random
import socket
import struct
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

import pytest

try:  # not on Windows: see _unread
    import fcntl
    import termios
except ImportError:
    fcntl = termios = None

from partA.framework import amplifier, deadlock, ownership, picture, problems, waits
from partA.framework.workload import Step
from partA.kvstore import InMemoryKVStore, KVStore

REPLY_TIMEOUT = float(os.environ.get("KV_REPLY_TIMEOUT", "20"))
"""Seconds a test waits for a reply the server owes while the server does
nothing at all (see ``Patience``): only a stuck server runs out of it."""

CALL_TIMEOUT = float(os.environ.get("KV_CALL_TIMEOUT", "10"))
"""Seconds that ``start``, ``close`` and the counts may take while the server
does nothing at all (see ``Patience``)."""

COUNTS_TIMEOUT = 5.0
"""Seconds the counts may stay wrong without changing, before a test fails."""

PATIENCE_CAP = 6
"""However busy the server, a wait ends after this many times its limit."""

OWNERSHIP = os.environ.get("KV_OWNERSHIP", "on") != "off"
"""Whether the ownership checker watches the server (``KV_OWNERSHIP=off``: not)."""

ownership.install()  # before the server's module is imported: see install()
waits.watch_sockets()  # a thread's wait on a socket, seen (for deadlock.py)

DEFAULT_SERVER = "partA.server:KeyValueServer"


def _drives_clients(thread: threading.Thread) -> bool:
    """A thread of ``run_clients``: it drives one test client."""
    return thread.name.startswith("test-client-")


def load_server_class(spec: str) -> type:
    """Import ``module:Class`` (the suites' ``--server`` option)."""
    module_name, _, class_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


# ----- deadlines ---------------------------------------------------------------
#
# A deadline in these suites is never the assertion: a correct server meets
# it on any machine, loaded or not, at 0.5 CPU or under --stress. So the
# waits for the server are patient while the server is at work: a wait ends
# when the server has done nothing the harness can see (no thread of its
# passed a message, no store call, no byte reached a test client) for the
# wait's limit, or after PATIENCE_CAP times that limit in all. A stuck server
# fails as fast as before; a slow one is waited for. Under --stress every
# limit is also multiplied by the amplifier's slowdown (``slow_down``).

_slowness = 1.0
_moved_at = time.monotonic()  # the harness's own sightings: see moved()
_finder: deadlock.Finder | None = None  # the server under test's, while it runs
_found = threading.local()  # .verdict: the deadlock this thread's last wait met


def slow_down(factor: float) -> None:
    """Multiply every limit by ``factor`` (the conftest's, under --stress)."""
    global _slowness
    _slowness = factor


def moved() -> None:
    """Note that the server did something: a store call, a byte to a client."""
    global _moved_at
    _moved_at = time.monotonic()  # one float, replaced whole: no lock needed


def last_moved() -> float:
    """When the server (or a client, getting bytes) last did anything."""
    return max(_moved_at, ownership.moved_at)


def deadlocked() -> str:
    """Why the server under test can never move again, if it cannot; else ''
    (``deadlock.py``: asked while a test waits for it)."""
    finder = _finder
    return finder.found() if finder is not None else ""


class Patience:
    """A wait for the server: over once it has been idle for ``limit`` seconds,
    or after ``PATIENCE_CAP`` times that in all (both times the slowdown), or
    at once if the server is deadlocked (``deadlocked``)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit * _slowness
        self.cap = self.limit * PATIENCE_CAP
        self.started = time.monotonic()
        self.deadlock = ""  # why the server can never move again, once found
        if limit != math.inf:
            _found.verdict = ""

    @classmethod
    def fixed(cls, seconds: float) -> Patience:
        """A plain deadline, ``seconds`` from now, whatever the server does."""
        patience = cls(math.inf)
        patience.cap = seconds
        return patience

    def idle(self) -> float:
        """Seconds since the server (or this wait) last moved."""
        last = max(self.started, last_moved())
        return time.monotonic() - last

    def over(self) -> bool:
        elapsed = time.monotonic() - self.started
        if elapsed > self.cap or self.idle() > self.limit:
            return True
        if self.limit != math.inf and not self.deadlock:
            self.deadlock = _found.verdict = deadlocked()
        return bool(self.deadlock)

    def remaining(self) -> float:
        """Seconds to the cap (the most a single wait inside it should take)."""
        return self.cap - (time.monotonic() - self.started)

    def waited(self) -> str:
        """How long it waited, in words: "20 s (the server did nothing ...)"."""
        elapsed = time.monotonic() - self.started
        if self.deadlock:
            return f"{elapsed:.0f} s (the server is deadlocked: see below)"
        if self.idle() > self.limit:
            idle = f"the last {self.idle():.0f} s" if elapsed > self.idle() + 1 else ""
            return f"{elapsed:.0f} s (the server did nothing {idle or 'meanwhile'})"
        return f"{elapsed:.0f} s (the server was busy, but not with this)"


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    waiting_for: str | Callable[[], str],
) -> None:
    """Poll ``condition`` until it is true; fail, saying what we waited for,
    once ``Patience(timeout)`` is over.

    ``waiting_for`` may be a function, called only at the deadline, when what
    it says should describe the state then.
    """
    patience = Patience(timeout)
    while not condition():
        if patience.over():
            said = waiting_for if isinstance(waiting_for, str) else waiting_for()
            why = f"\n{patience.deadlock}" if patience.deadlock else ""
            pytest.fail(f"waited {patience.waited()} for {said}{why}", pytrace=False)
        time.sleep(0.005)


# ----- the store that catches races ------------------------------------------


class CheckedStore(KVStore):
    """An ``InMemoryKVStore`` that reports two threads using it unordered.

    Every call is a use of the store's state, checked as the ownership
    checker checks a write (``ownership.Watch.unordered_write``): a thread
    may call in after another did only if a message carried that call to it
    (a queue item, a thread's start or join, an Event). That does not depend
    on timing, so a second thread calling in is reported on every run that
    makes the call. Two threads inside it at once are reported too. Races
    are recorded, not raised: the server keeps running and the test reports
    them at the end.
    """

    MAX_RACES = 5

    def __init__(self) -> None:
        self._store = InMemoryKVStore()
        self._inside: tuple[str, str] | None = None  # (thread name, method)
        self._last_method = ""  # the method of the last call, for messages
        self._pairs: list[tuple[str, str]] = []  # roles of unordered callers
        self.races: list[str] = []  # calls with no message between them
        self.overlaps: list[str] = []  # calls inside at once (see races_said)
        self.watch: ownership.Watch | None = None  # set by ServerUnderTest
        # Told of each call, as (method, key, values): see ServerUnderTest.
        self.observe: Callable[[str, str, tuple[bytes, ...]], None] | None = None

    @contextlib.contextmanager
    def _using(self, method: str, key: str, *values: bytes) -> Iterator[None]:
        """Mark the store busy with ``method`` while the body runs."""
        if self.observe is not None:
            self.observe(method, key, values)
        moved()
        me = threading.current_thread().name
        self._check_order(method)
        other = self._inside
        if other is not None:
            self._race(
                f"{problems.who(me)} called the store ({method}()) while "
                f"{problems.who(other[0], me)} was inside it ({other[1]}())",
                self.overlaps,
            )
        self._inside = (me, method)
        amplifier.jiggle()  # under --stress: perhaps wait a moment
        try:
            yield
        finally:
            self._inside = None

    def _check_order(self, method: str) -> None:
        """Record this call; a race if the last was unordered with it."""
        last_method, self._last_method = self._last_method, method
        if self.watch is None:
            return
        found = self.watch.unordered_write(self, "", _caller())
        if found is not None:
            first, second = found
            pair = (problems.role(first.thread.name), problems.role(second.thread.name))
            if pair in self._pairs:
                return  # said once for two threads of these roles
            self._pairs.append(pair)
            self._race(
                f"{ownership.who(second.thread)} called the store ({method}(), "
                f"{second.where}) after {ownership.who(first.thread, second.thread)} "
                f"did ({last_method}(), {first.where}), and no message carried "
                "that call to it"
            )

    def _race(self, said: str, kept: list[str] | None = None) -> None:
        kept = self.races if kept is None else kept
        if len(kept) < self.MAX_RACES and said not in kept:
            kept.append(said)

    def races_said(self) -> list[str]:
        """The races to report: the calls with no message between them, which
        every run that makes them finds; two threads inside at once only if
        there are none of those. Two calls at once always come with an
        unordered pair too, and whether they overlapped depends on timing:
        saying it as well would make the same bug read differently from run
        to run (and from test to test in the run's summary)."""
        return self.races or self.overlaps

    def put(self, key: str, value: bytes) -> None:
        with self._using("put", key, value):
            self._store.put(key, value)

    def get(self, key: str) -> list[bytes]:
        with self._using("get", key):
            return self._store.get(key)

    def delete(self, key: str) -> None:
        with self._using("delete", key):
            self._store.delete(key)

    def update(self, key: str, old: bytes, new: bytes) -> None:
        with self._using("update", key, old, new):
            self._store.update(key, old, new)

    def dump(self) -> dict[str, list[bytes]]:
        return self._store.dump()


def _caller() -> FrameType | None:
    """The innermost frame outside the harnesses: the server's call of the store."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in _HARNESSES:
        frame = frame.f_back
    return frame


_HARNESSES = {__name__, "partC.framework.harness", "contextlib"}


# ----- the server under test ---------------------------------------------------


# Every socket.socket made in this process, in the order of their making, as
# weak references (a socket that is collected is closed). Accepted
# connections are made through socket.socket too. This works the same on
# Linux, macOS and Windows, where there is no /proc to list. A socket's
# serial number is its place in the list, plus those pruned from its front.
_made: list[weakref.ref[socket.socket]] = []
_pruned = 0  # sockets dropped from the front of _made: see _prune_sockets
_make_socket = socket.socket.__init__


def _record_socket(self: socket.socket, *args: object, **kwargs: object) -> None:
    _make_socket(self, *args, **kwargs)
    _made.append(weakref.ref(self))  # one call: safe from any thread


socket.socket.__init__ = _record_socket


def _recorded() -> int:
    """The serial number the next socket made will have."""
    return _pruned + len(_made)


def _sockets_since(serial: int) -> list[socket.socket]:
    """The sockets made since ``serial`` that still exist (open or not)."""
    return [sock for ref in _made[max(serial - _pruned, 0) :] if (sock := ref())]


def _open_sockets_since(serial: int) -> list[socket.socket]:
    """The sockets made since ``serial`` that are still open."""
    return [sock for sock in _sockets_since(serial) if sock.fileno() != -1]


def _prune_sockets() -> None:
    """Forget the sockets at the front of the list that are gone (the earlier
    tests'), so that the list does not grow for as long as the process runs."""
    global _pruned
    gone = next((i for i, ref in enumerate(_made) if ref() is not None), len(_made))
    del _made[:gone]
    _pruned += gone


def _no_delay(sock: socket.socket) -> None:
    """Turn Nagle's algorithm off on a connection's server end (as the
    reference does for itself).

    A server that sends reply by reply would otherwise hold each small reply
    until the client acknowledged the last, and a client acknowledges late
    (40 ms, on Linux): a correct server would take five times as long to pass
    the suites as one that batches. It changes when bytes leave, never which.
    """
    if sock.type == socket.SOCK_STREAM and sock.family in (
        socket.AF_INET,
        socket.AF_INET6,
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ServerUnderTest:
    """A server with a ``CheckedStore``, started on a free loopback port.

    Every call into the server has a deadline. ``close()`` closes the test's
    clients, then the server, and checks what the server left behind.
    """

    def __init__(self, server_class: type) -> None:
        self.store = CheckedStore()
        self.timeline = picture.Timeline()  # drawn if the test fails
        self._threads_before = set(threading.enumerate())
        _prune_sockets()
        self._first_socket = _recorded()
        self._ends: dict[tuple, weakref.ref[socket.socket]] = {}  # server_end
        self._ends_indexed = self._first_socket
        self.watch = ownership.Watch()
        self.watch.begin()
        self.store.watch = self.watch
        watching_early = OWNERSHIP and isinstance(server_class, type)
        if watching_early:  # from its constructor on
            self.watch.watch_classes(server_class)
        self.clients: list[TestClient] = []
        self.closed = False
        self._at_failure: dict[threading.Thread, str] | None = None  # note_failure
        # Whether each key and value the store is given came whole from a
        # client (the graded workloads turn it on): see note_sent.
        self.check_requests = False
        self._sent_keys: set[str] = set()
        self._sent_values: set[bytes] = set()
        self._sent_lines: list[bytes] = []
        self.cut_requests: list[tuple[str, str, tuple[bytes, ...]]] = []
        self.store.observe = self._observe
        try:
            self.server = self.call("the constructor", server_class, self.store)
            self.watch.server = self.server
            self._watch_for_deadlock()
            if OWNERSHIP and not watching_early:  # made by a function: watch it now
                self.watch.watch_classes(type(self.server))
            self.port = self.call("start(0)", self.server.start, 0)
        except BaseException:  # a stub, say: no close() will stop the watch
            self._stop_watching()
            raise

    def _watch_for_deadlock(self) -> None:
        """Have the waits of this test end at once should the server deadlock."""
        global _finder
        test = threading.current_thread()

        def drivers() -> list[threading.Thread]:
            return [test, *(t for t in threading.enumerate() if _drives_clients(t))]

        def threads() -> list[threading.Thread]:
            """The server's live threads; none if a thread unknown to the
            harness runs (started with ``_thread``, say): it could be busy."""
            alive = self.threads_alive()
            known = {t.ident for t in self._threads_before} | {
                t.ident for t, _ in alive
            }
            if set(sys._current_frames()) - known:
                return []
            return [t for t, _ in alive if not _drives_clients(t)]

        _finder = self.finder = deadlock.Finder(
            self.server,
            threads,
            drivers,
            last_moved,
            self.client_of,
            _slowness,
        )

    def threads_alive(self) -> list[tuple[threading.Thread, float]]:
        """The threads started while the server ran that are alive now."""
        alive = set(threading.enumerate())  # not is_alive(): the checker watches it
        return [(thread, at) for thread, at in self.watch.started if thread in alive]

    def client_of(self, sock: object) -> TestClient | None:
        """The test client at the other end of a server socket, if any."""
        try:
            peer = sock.getpeername()
        except (OSError, AttributeError):
            return None
        for client in self.clients:
            with contextlib.suppress(OSError):
                if client.sock.getsockname() == peer:
                    return client
        return None

    def connection(self, sock: object) -> str:
        """A server socket, in words: "client 3's connection"."""
        client = self.client_of(sock)
        return f"{client.role}'s connection" if client else "a connection"

    def call(self, what: str, function: Callable, *args: object) -> object:
        """Run ``function(*args)`` in a helper thread; fail if it hangs."""
        outcome: queue.Queue = queue.Queue(1)

        def run() -> None:
            try:
                outcome.put((True, function(*args)))
            except BaseException as error:  # handed to the test thread below
                outcome.put((False, error))

        helper = threading.Thread(target=run, name=f"test-call {what}", daemon=True)
        helper.start()
        patience = Patience(CALL_TIMEOUT)
        ok = value = None
        with deadlock.test_waits():
            while ok is None and not patience.over():
                with contextlib.suppress(queue.Empty):
                    ok, value = outcome.get(timeout=0.1)
        if ok is None:  # failing outside the except clause: no queue.Empty shown
            pytest.fail(
                f"{what} did not return within {patience.waited()}: it must not "
                "wait for anything that may never come (a thread blocked on a "
                "full queue, or a client that does not read)"
                + self.where_threads_wait(),
                pytrace=False,
            )
        # It has handed over its outcome and is ending: joined, it gives back
        # its stack at once (from 3.13, a thread nobody joins keeps its stack
        # while its Thread object lives, and the checker keeps every one).
        helper.join()
        if not ok:
            raise value
        return value

    def count_active(self) -> int:
        return self.call("count_active()", self.server.count_active)

    def count_dropped(self) -> int:
        return self.call("count_dropped()", self.server.count_dropped)

    def wait_for_counts(self, active: int, dropped: int, when: str) -> None:
        """Wait until the counts are ``active`` and ``dropped``; fail if they
        stay wrong for ``COUNTS_TIMEOUT`` seconds (times the slowdown) without
        changing. A count that does not answer fails in ``call``."""
        wanted = (active, dropped)
        limit = COUNTS_TIMEOUT * _slowness
        seen, since = None, time.monotonic()
        while (now := (self.count_active(), self.count_dropped())) != wanted:
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since > limit:
                pytest.fail(
                    f"{when}: expected count_active() == {active} and "
                    f"count_dropped() == {dropped}, but the server kept reporting "
                    f"{now[0]} active and {now[1]} dropped for {limit:.0f} s"
                    + self.where_threads_wait(),
                    pytrace=False,
                )
            time.sleep(0.005)

    def connect(self, rcvbuf: int | None = None) -> TestClient:
        client = TestClient(len(self.clients), self.port, rcvbuf, self)
        self.clients.append(client)
        return client

    def server_end(
        self, client_end: tuple, server_address: tuple
    ) -> socket.socket | None:
        """The server's socket whose peer is ``client_end``, if made yet.

        Each socket's two ends are looked up once, when it is first seen: a
        thousand clients must not cost a million system calls.
        """
        key = (client_end, server_address)
        if key not in self._ends:
            self._index_ends()
        end = self._ends.get(key)
        return end() if end is not None else None

    def _index_ends(self) -> None:
        """Note the ends of the sockets made since the last look."""
        serial, self._ends_indexed = self._ends_indexed, _recorded()
        for sock in _sockets_since(serial):
            with contextlib.suppress(OSError):
                ends = (sock.getpeername(), sock.getsockname())
                self._ends[ends] = weakref.ref(sock)  # the server's to close
                _no_delay(sock)

    # ----- requests must reach the store whole --------------------------------

    def note_sent(self, lines: list[bytes]) -> None:
        """Remember the keys and values of requests a client is about to send."""
        for line in lines:
            fields = line.split(b":")
            if len(fields) >= 2 and fields[0] in (b"Put", b"Get", b"Delete", b"Update"):
                self._sent_keys.add(fields[1].decode("utf-8", "replace"))
                self._sent_values.update(fields[2:])
                self._sent_lines.append(line)

    def _observe(self, method: str, key: str, values: tuple[bytes, ...]) -> None:
        """A store call whose key or value no client sent is a cut request."""
        if not self.check_requests or len(self.cut_requests) >= 3:
            return
        if key not in self._sent_keys or not self._sent_values.issuperset(values):
            self.cut_requests.append((method, key, values))

    def where_threads_wait(self) -> str:
        """For a wait that ran out: why the server is deadlocked, if it is
        (see ``deadlock``), and where its live threads wait now, as lines to
        end its message with (see ``waits``); '' if none."""
        server = getattr(self, "server", None)
        threads = self._server_threads()
        said = (
            waits.report(server, threads, self.connection) if server is not None else ""
        )
        self.note_failure()
        verdict = getattr(_found, "verdict", "")  # this thread's wait's
        return "".join(f"\n{text}" for text in (verdict, said) if text)

    def _server_threads(self) -> list[threading.Thread]:
        """The threads the server started (not the harness's own)."""
        return [t for t, _ in self.watch.started if not t.name.startswith("test-")]

    def note_failure(self) -> None:
        """The test fails now: keep where each live server thread waits, for
        the picture. Closing the clients afterwards may unblock them (a
        writer stuck in sendall on a client that does not read), and the
        picture must show them as they were when the test failed."""
        server = getattr(self, "server", None)
        if self._at_failure is None and server is not None:
            threads = self._server_threads()
            self._at_failure = waits.places(server, threads, self.connection)

    def threads_started(self) -> list[picture.ThreadLife]:
        """The server's threads: when each started, was joined, ended, and
        where it waited when the test failed (or waits now), if alive then."""
        threads = self._server_threads()
        server = getattr(self, "server", None)
        places = self._at_failure
        if places is None:
            places = (
                waits.places(server, threads, self.connection)
                if server is not None
                else {}
            )
        return [
            picture.ThreadLife(
                thread,
                started,
                self.watch.joined.get(thread),
                self.watch.ended.get(thread),
                *places.get(thread, ("", "")),
                running=thread in places if self._at_failure is not None else None,
            )
            for thread, started in self.watch.started
            if not thread.name.startswith("test-")
        ]

    def fail_on_cut_requests(self) -> None:
        """Fail if the store was given a key or value that no client sent."""
        if not self.cut_requests:
            return
        method, key, values = self.cut_requests[0]
        call = f"{method}({', '.join([repr(key), *map(repr, values)])})"
        if key.rstrip("\r\n") in self._sent_keys and all(
            v.rstrip(b"\r\n") in self._sent_values for v in values
        ):
            pytest.fail(
                f"the server called the store's {call}: a key or value a client sent, "
                "with the end of line ('\\n', or '\\r\\n') that ended its "
                "request. Does the server keep the '\\n' that ends each request "
                "(or the '\\r' before it) as part of the stored value?",
                pytrace=False,
            )
        fragment = b":".join([method.capitalize().encode(), key.encode(), *values])
        whole = next((x for x in self._sent_lines if x.startswith(fragment)), None)
        sent = f"; a client sent {whole[:80]!r}" if whole else ""
        unsent = "key" if key not in self._sent_keys else "value"
        joined = "\n" in key or any(b"\n" in value for value in values)
        pytest.fail(
            f"the server cut a request: it called the store's {call}, but no "
            f"client sent that {unsent}{sent}. "
            + ("It took two requests for one (a newline inside). " if joined else "")
            + "A request is a whole line: one recv() may bring several requests, "
            "or part of one (the rest comes in a later recv()). Keep the "
            "unfinished end of what recv() returned until its newline arrives.",
            pytrace=False,
        )

    def clean_up(self) -> None:
        """Close the server and the clients if the test did not, checking nothing.

        For a fixture's teardown after a failed test: its failure is the news.
        """
        if not self.closed:
            self.closed = True
            try:
                self.call("close()", self.server.close)
            finally:
                self._stop_watching()
            for client in self.clients:
                client.close()

    def close(self) -> None:
        """Close the server, then the clients; fail on races, leaks or a hang,
        listing every problem found (see ``close_and_check``)."""
        if self.closed:
            return
        found = self.close_and_check()
        if found:
            pytest.fail(problems.listed(found), pytrace=False)

    def close_and_check(self) -> list[str]:
        """Close the server, then the clients, and run every check; return
        each problem found, in the checks' order, failing on none of them.

        After a close() that did not return, the checks of what it left
        behind (threads, joins, sockets) are not made: its hang says it.
        """
        self.closed = True
        found: list[str] = []
        try:
            returned = _problems_of(found, self.call, "close()", self.server.close)
        finally:
            self._stop_watching()
            for client in self.clients:
                client.close()
        checks = [self.fail_on_cut_requests, self._check_races, self._check_ownership]
        if returned:
            checks += [self._check_threads, self._check_joins, self._check_sockets]
        for check in checks:
            _problems_of(found, check)
        return found

    def _stop_watching(self) -> None:
        global _finder
        self.watch.stop()
        if _finder is getattr(self, "finder", None):
            _finder = None

    def _check_races(self) -> None:
        if races := self.store.races_said():
            pytest.fail(
                "two threads used the store: "
                + "; ".join(sorted(races))
                + ". The store is not thread-safe: only one thread (its "
                "owner) may ever call it; the others send the owner a message.",
                pytrace=False,
            )

    def _check_ownership(self) -> None:
        """Each piece of state with two owners is a problem of its own."""
        found = sorted(self.watch.violations, key=lambda v: v.state)
        if not found:
            return
        said = [
            f"state used by two threads, with no message between them: {v}"
            for v in found
        ]
        said[0] += (
            "\nGive each piece of state one owner thread; the others send the "
            "owner a message on a queue (HANDOUT.md: One owner per piece of state)."
        )
        raise Problems(said)

    def _check_joins(self) -> None:
        unjoined = self.watch.unjoined(lambda t: t.name.startswith("test-"))
        if unjoined:
            pytest.fail(
                f"close() returned without joining {len(unjoined)} thread(s) the "
                f"server started ({problems.by_role(unjoined)}): they had ended, "
                "but nothing waited for them or saw them end: close() must join "
                "every thread the server started (thread.join()), or have it "
                "joined or seen to have ended (is_alive() False), before it "
                "returns; waiting a while instead is a race that a slower "
                "machine loses.",
                pytrace=False,
            )

    def server_threads(self) -> list[str]:
        """The names of the threads started since this server was made, alive now.

        The harness's own threads (named "test-...") are left out.
        """
        return sorted(
            thread.name
            for thread in threading.enumerate()
            if thread not in self._threads_before
            and thread.is_alive()
            and not thread.name.startswith("test-")
        )

    def _check_threads(self) -> None:
        left = self.server_threads()
        if left:
            pytest.fail(
                f"close() returned while {len(left)} thread(s) the server started "
                f"were still running ({problems.by_role(left)}): close() must "
                "stop and join every thread before it returns."
                + self.where_threads_wait(),
                pytrace=False,
            )

    def _check_sockets(self) -> None:
        left = _open_sockets_since(self._first_socket)
        if left:
            pytest.fail(
                f"close() returned with {len(left)} socket(s) still open (the "
                "listener or client connections). close() must close them all.",
                pytrace=False,
            )


class Problems(pytest.fail.Exception):
    """A check's failure that found several problems, each its own line."""

    def __init__(self, found: list[str]) -> None:
        super().__init__(problems.listed(found), pytrace=False)
        self.found = found


def _problems_of(found: list[str], check: Callable, *args: object) -> bool:
    """Run ``check(*args)``; add what it failed with to ``found``. Whether it
    passed."""
    try:
        check(*args)
    except Problems as failure:
        found += failure.found
    except pytest.fail.Exception as failure:
        found.append(failure.msg)
    else:
        return True
    return False


# ----- a test's connection -------------------------------------------------------


class TestClient:
    """One connection to the server, as the tests use it.

    ``send`` cuts what it sends into pieces at seeded positions (see
    ``_pieces``), so that every run exercises the server's framing the same
    way. Failures (a reset, the server closing the connection, a deadline) end
    the test with a message that says which client, doing what, and what the
    server did wrong.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        number: int,
        port: int,
        rcvbuf: int | None = None,
        harness: ServerUnderTest | None = None,
    ) -> None:
        self.number = number
        self.role = f"client {number}"  # "slow client 3" in the slow-client tests
        self.reading = True  # False while a slow client lets its replies pile up
        self.harness = harness
        self.timeline = harness.timeline if harness is not None else None
        self.ended: str | None = None  # how the server ended the connection
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(REPLY_TIMEOUT * _slowness)
        self.patience = Patience(REPLY_TIMEOUT)  # the last wait, for messages
        try:
            self.sock.connect(("127.0.0.1", port))
            refused = None
        except OSError as error:
            self.sock.close()
            refused = _why(error)
        if refused is not None:
            pytest.fail(
                f"{self.role} could not connect ({refused}): the server "
                "must keep accepting connections until close()",
                pytrace=False,
            )
        self._framing = random.Random(f"framing-{number}")
        self.sent_bad_input = False  # a line that is not a request: see blame
        self.stopped_sending = False  # a half-close: see stop_sending
        self._raw_tail = b""  # what send_raw sent after its last newline
        # The server's socket of this connection, held weakly: a server may
        # close it by letting it go, and the harness must not keep it open.
        self._server_end: weakref.ref[socket.socket] | None = None
        self._patient = True  # waits for the server to read each piece
        self._sends = 0
        self._buffer = b""
        self.closed = False

    def send(self, lines: Iterable[bytes], during: str = "", cut: bool = True) -> None:
        """Send ``lines``; ``during`` says what else went on, should it fail.

        ``cut=False`` sends them in one piece (where the server is expected to
        hang up, and a later piece would find the connection gone).
        """
        lines = list(lines)
        if self.harness is not None:
            self.harness.note_sent(lines)
        if not all(map(_is_request, lines)):
            self.sent_bad_input = True
        if lines:
            self.note("sent", f"{len(lines)} request(s), the first {lines[0][:60]!r}")
        self._sends += 1
        end = b"\r\n" if self._sends % CRLF_SENDS == 0 else b"\n"
        if cut and (self._sends <= CUT_SENDS or self._sends % CUT_SENDS == 0):
            pieces = _pieces(lines, self._framing, end)
        else:  # in one piece: waiting for the server to read it costs time
            pieces = [b"".join(line + end for line in lines)] if lines else []
        for number, piece in enumerate(pieces, 1):
            self._send_piece(piece, during)
            if number < len(pieces):
                self._await_server_read()
        if self._server_end is None and self._patient:
            self._find_server_end()  # before the replies: see _no_delay

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is, in one ``sendall``, noting bad input in it
        (lines that are not requests; a line it leaves unfinished counts once
        a later ``send_raw`` ends it, or once it is too long)."""
        *lines, self._raw_tail = (self._raw_tail + data).split(b"\n")
        too_long = len(self._raw_tail) > LONGEST_LINE
        if too_long or not all(map(_is_request, lines)):
            self.sent_bad_input = True
        self.sock.sendall(data)

    def stop_sending(self) -> None:
        """Half-close: "I am done sending", as ``nc`` does at the end of its
        input. The server still owes the replies to what was sent."""
        self.stopped_sending = True
        self.note("sent", "the end of its requests (a half-close)")
        self.sock.shutdown(socket.SHUT_WR)

    def _send_piece(self, data: bytes, during: str) -> None:
        patience, unsent = Patience(REPLY_TIMEOUT), memoryview(data)
        self.sock.settimeout(0.25)
        try:
            with deadlock.test_waits():
                while unsent and not patience.over():
                    with contextlib.suppress(TimeoutError):
                        unsent = unsent[self.sock.send(unsent) :]
        except OSError as error:
            self.ended = _why(error)
        # Failing outside the except clause keeps the OSError out of the report.
        if self.ended is not None:
            self.fail(
                f"{self.lost_connection()} while it was sending requests{during} "
                f"(its send failed: {self.ended}): {self.blame()}"
            )
        if unsent:
            self.fail(
                f"{self.role} could not send for {patience.waited()}"
                f"{during}: the server stopped reading its requests"
                + self.where_threads_wait()
            )

    def _await_server_read(self) -> None:
        """Wait (a moment at most) until the server has read all we sent.

        So the next piece reaches the server in a ``recv()`` of its own, at the
        same place on every run. Only a hint for determinism, never a check: a
        server that reads late makes the client stop waiting.
        """
        end = self._find_server_end() if self._patient else None
        if end is None:
            return
        deadline = time.monotonic() + PIECE_WAIT
        for spin in itertools.count():
            if _unread(end) == 0:
                return
            if time.monotonic() > deadline:
                self._patient = False
                return
            # At once, then less and less often: a server that is busy with
            # other clients is not kept from its work by the polling.
            time.sleep(0 if spin < 10 else min(0.0005 * 1.5 ** (spin - 10), 0.01))

    def _find_server_end(self) -> socket.socket | None:
        """The server's socket of this connection, if it is in this process."""
        if self._server_end is None and self.harness is not None:
            try:
                mine = (self.sock.getsockname(), self.sock.getpeername())
            except OSError:  # no longer connected
                self._patient = False
                return None
            deadline = time.monotonic() + PIECE_WAIT
            while (end := self.harness.server_end(*mine)) is None:
                if time.monotonic() > deadline:
                    self._patient = False
                    return None
                time.sleep(0.001)
            self._server_end = weakref.ref(end)
        return self._server_end() if self._server_end is not None else None

    def leave(self, reset: bool = False) -> None:
        """Leave (with a reset if ``reset``); then the server must close its
        socket of this connection, in time, not only at close()."""
        self._find_server_end()
        end = self._server_end
        if reset:
            self.reset()
        else:
            self.close()
        if end is None:
            return  # not found (not in this process?): nothing to check
        patience, collected = Patience(CALL_TIMEOUT), False
        while (sock := end()) is not None and sock.fileno() != -1:
            del sock
            if patience.over() and not collected:
                gc.collect()  # a socket let go of in a cycle: closed when collected
                collected = True
            elif patience.over():
                self.fail(
                    f"the server kept {self.role}'s socket open for "
                    f"{patience.waited()} after the client left: close a "
                    "departed client's socket (socket.close()) once its threads "
                    "are done with it, not only at close(); a server that only "
                    "shuts it down keeps a file descriptor for every client that "
                    "ever left, and runs out of them" + self.where_threads_wait()
                )
            time.sleep(0.005)

    def reset(self) -> None:
        """Leave with a reset, not a goodbye: close with SO_LINGER set to 0 s.

        The option's struct is two ints on POSIX and two unsigned shorts in
        Winsock.
        """
        layout = "HH" if sys.platform == "win32" else "ii"
        linger = struct.pack(layout, 1, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.close()

    def read_line(self, timeout: float | None = None) -> bytes | None:
        """Return the next line without its newline; None at EOF, or once the
        wait is over: ``timeout`` seconds, or by default ``Patience``'s for a
        reply (kept in ``patience``, to say how long it waited).

        At EOF or a reset, ``ended`` says which.
        """
        if timeout is None:
            wait = self.patience = Patience(REPLY_TIMEOUT)
        else:
            wait = Patience.fixed(timeout)
        waiting = deadlock.test_waits() if timeout is None else contextlib.nullcontext()
        with waiting:
            while b"\n" not in self._buffer:
                if self.ended is not None or wait.over():
                    return None
                self._receive(min(wait.remaining(), 0.25))
        line, _, self._buffer = self._buffer.partition(b"\n")
        self.note("received", repr(line[:80]))
        return line

    def _receive(self, seconds: float) -> None:
        """Add what arrives within ``seconds`` to the buffer; note an EOF."""
        self.sock.settimeout(max(seconds, 0.001))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        except OSError as error:
            self.ended = _why(error)
        else:
            if data:
                moved()
                self._buffer += data
                return
            self.ended = "it closed the connection"
        self.note("closed", self.ended)

    def note(self, kind: str, text: str) -> None:
        """Add an event to this client's lane of the timeline (see picture)."""
        if self.timeline is not None:
            self.timeline.add(self.role, kind, text)

    def read_reply(self) -> bytes | None:
        """``read_line``, failing at once should the server cut a request."""
        self.patience = patience = Patience(REPLY_TIMEOUT)
        with deadlock.test_waits():
            while not patience.over():
                line = self.read_line(0.25)
                if line is not None or self.ended is not None:
                    return line
                if self.harness is not None:
                    self.harness.fail_on_cut_requests()
        return None

    def lost_connection(self) -> str:
        """The start of a message: who lost the connection, and how."""
        how = "reset" if self.ended and "reset" in self.ended else "closed"
        return f"the server {how} {self.role}'s connection"

    def blame(self) -> str:
        """What HANDOUT says the server did wrong by ending this connection."""
        if not self.reading:
            return (
                "a slow client loses replies, never its connection (HANDOUT: "
                "a client that does not read is never disconnected for being slow)"
            )
        if self.stopped_sending:
            return (
                "the client had only stopped sending (a half-close, as nc does at "
                "the end of its input): the server must still send every reply it "
                "owes, and end the connection after the last one"
            )
        said = "a connection ends only when the client leaves or close() is called"
        if self.sent_bad_input:
            said += "; bad input is skipped, never a reason to disconnect"
        return said

    def where_threads_wait(self) -> str:
        """The server's threads, where they wait (see ``waits``): for a hang."""
        return self.harness.where_threads_wait() if self.harness else ""

    def fail(self, message: str) -> None:
        """Fail the test; a request the server cut is the better explanation."""
        if self.harness is not None:
            self.harness.fail_on_cut_requests()
        self.note("failure", message)
        pytest.fail(message, pytrace=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


PIECE_WAIT = 1.0
"""Seconds a client waits for the server to read one piece of a send."""

CUT_SENDS = 16
"""A client cuts its first 16 sends in pieces, then every 16th."""

CRLF_SENDS = 5
"""Every 5th send of a client ends its lines with ``\\r\\n`` (as ``nc -C`` does)."""


def _pieces(lines: list[bytes], rng: random.Random, end: bytes) -> list[bytes]:
    """Cut the bytes of ``lines`` into up to three sends, at seeded positions.

    One line, a Get if there is one, is cut in two: the whole lines before
    it go in the first send, its first part alone in the second (up to just
    after its last ``_``, so it is never a request the workload sends: a
    key ``key_0_`` or a value ``value_``), and its rest with the lines after
    it in the third. So every run, a server meets several requests in one
    ``recv()`` and a request cut across two.
    """
    if not lines:
        return []
    gets = [i for i, line in enumerate(lines) if line.startswith(b"Get:")]
    chosen = rng.choice(gets or range(len(lines)))
    line = lines[chosen]
    cut = line.rfind(b"_") + 1 or len(line) // 2
    if not 0 < cut < len(line):
        cut = len(line)  # a line of one byte: nothing to cut
    start = sum(len(before) + len(end) for before in lines[:chosen])
    data = b"".join(line + end for line in lines)
    pieces = [data[:start], data[start : start + cut], data[start + cut :]]
    return [piece for piece in pieces if piece]


LONGEST_LINE = 64 * 1024
"""The longest request line, without its end of line (server.py's MAX_LINE)."""

_FIELDS = {b"Put": 3, b"Get": 2, b"Delete": 2, b"Update": 4}


def _is_request(line: bytes) -> bool:
    """Whether ``line`` (without its ``\n``) is one of the protocol's requests."""
    line = line.removesuffix(b"\r")
    fields = line.split(b":")
    if len(line) > LONGEST_LINE or _FIELDS.get(fields[0]) != len(fields):
        return False
    try:
        return bool(fields[1].decode("utf-8"))
    except UnicodeDecodeError:
        return False


def _unread(sock: socket.socket) -> int:
    """Bytes waiting in ``sock`` that its owner has not read yet (0 if unknown).

    Where there is no ``FIONREAD`` (Windows), always 0: the pieces of a send
    are then sent without waiting.
    """
    if fcntl is None:
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):  # closed meanwhile
        return 0
    return struct.unpack("i", answer)[0]


def _why(error: OSError) -> str:
    """An OSError in words: "connection reset", "broken pipe", ..."""
    if isinstance(error, ConnectionResetError | ConnectionAbortedError):
        return "connection reset by the server"
    if isinstance(error, BrokenPipeError):
        return "broken pipe: the server had closed the connection"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {REPLY_TIMEOUT:.0f} s"
    return error.strerror or type(error).__name__


# ----- checking replies ----------------------------------------------------------


def explain_wrong_reply(client: TestClient, got: bytes, wanted: bytes) -> str:
    """Say, in words, what a reply that is not the owed one suggests."""
    after = [line for _ in range(3) if (line := client.read_line(0.2)) is not None]
    said = (
        f"client {client.number} got {got[:60]!r} where it expected {wanted[:60]!r}"
        f" (the lines after it: {', '.join(repr(x[:40]) for x in after) or 'none'})"
    )
    if b"" in (got, *after):
        return (
            f"{said}: an empty line. Does the server keep the '\\n' that ends "
            "each request as part of the stored value?"
        )
    key = got.partition(b":")[0]
    if not key.startswith(b"key_%d_" % client.number) and b"key_" in key:
        return f"{said}: a reply to another client's Get. Replies go to the asker."
    wanted_key = wanted.partition(b":")[0]
    if b"_new" in wanted_key and key != wanted_key:
        return (
            f"{said}: {wanted_key!r} was absent when the client sent Update for "
            "it. An Update of an absent key stores its new value: the key then "
            "holds [new]."
        )
    if b"_absent" in key:
        return (
            f"{said}: a reply to a Get of a key that is absent. A Get of an "
            "absent key gets no reply at all."
        )
    return f"{said}."


def expect_replies(client: TestClient, step: Step, what: str) -> None:
    """Read the replies ``step`` is owed, in order; fail on the first wrong one."""
    for index, wanted in enumerate(step.replies):
        got = client.read_reply()
        waiting = (
            f"reply {index + 1} of {len(step.replies)} to {what} "
            f"({step.requests[-1][:60]!r})"
        )
        if got is None and client.ended is not None:
            client.fail(
                f"{client.lost_connection()} ({client.ended}) while it waited for "
                f"{waiting}: {client.blame()}"
            )
        if got is None:
            client.fail(
                f"{client.role} waited {client.patience.waited()} for {waiting} "
                "and got nothing: the server never sent it (a request lost, or a "
                "thread blocked where it should not, on a full queue for example)"
                + client.where_threads_wait()
            )
        if got != wanted:
            client.fail(explain_wrong_reply(client, got, wanted))


def run_clients(work: dict[TestClient, Callable[[TestClient], None]]) -> None:
    """Run each client's work in its own thread; fail with the first failure.

    On a failure, every other client's socket is shut down, so that their
    threads end at once instead of waiting out their deadlines.
    """
    failures: queue.Queue[BaseException | None] = queue.Queue()

    def run(client: TestClient, job: Callable[[TestClient], None]) -> None:
        try:
            job(client)
            failures.put(None)
        except OSError as error:  # a socket call the harness did not foresee
            failures.put(
                pytest.fail.Exception(
                    f"{client.role}'s connection failed ({_why(error)}): "
                    f"{client.blame()}",
                    pytrace=False,
                )
            )
        except BaseException as error:  # handed to the test thread below
            failures.put(error)

    threads = [
        threading.Thread(target=run, args=item, name=f"test-client-{item[0].number}")
        for item in work.items()
    ]
    for thread in threads:
        thread.start()
    first = None
    with deadlock.test_waits():  # acts only once a client's thread has ended
        for _ in threads:
            error = failures.get()
            if error is not None and first is None:
                first = error
                for client in work:
                    with contextlib.suppress(OSError):
                        client.sock.shutdown(socket.SHUT_RDWR)
    for thread in threads:
        thread.join()
    if first is not None:
        raise first


def check_store(kv: ServerUnderTest, expected: dict[str, list[bytes]]) -> None:
    """After close(): the store must hold exactly ``expected``, order included."""
    actual = kv.store.dump()
    for key in sorted(set(actual) | set(expected)):
        if actual.get(key) != expected.get(key):
            pytest.fail(
                f"after the run, the store holds {_show(actual.get(key))} under "
                f"{key!r}; expected {_show(expected.get(key))} "
                f"({len(actual)} keys stored, {len(expected)} expected)",
                pytrace=False,
            )


def _show(values: list[bytes] | None) -> str:
    if values is None:
        return "nothing"
    return "[" + ", ".join(repr(v[:20]) for v in values) + "]"
