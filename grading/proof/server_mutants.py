"""Deliberately broken servers: each is the reference with one classic bug.

Instructor-only (never in the student handout). The partA suites must fail on
every one of them, for the reason given in ``CAUGHT_BY``; the tests in
``test_server_mutants.py`` check that, and the grading self-check reuses them.
Each mutant changes one small method of the reference, so that what differs
is easy to see.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import socket
import struct
import threading
import time

from partA.server import (
    ACCEPTORS,
    GONE,
    LEFT,
    RECV_SIZE,
    REQUESTS,
    STOP,
    KeyValueServer,
    LineSplitter,
    Request,
    _Client,
    _shutdown,
    parse_request,
)


class UnboundedOutbox(KeyValueServer):
    """Never drops a reply: a slow reader's replies pile up without end."""

    def _admit(self, client: _Client) -> None:
        client.outbox = queue.Queue()
        super()._admit(client)

    def _queue(self, client: _Client, reply: bytes) -> None:
        client.outbox.put_nowait(reply)
        client.replies_queued += 1


class BlockingCoordinator(KeyValueServer):
    """Waits for room in a full outbox, so one slow reader stalls everyone."""

    def _queue(self, client: _Client, reply: bytes) -> None:
        client.outbox.put(reply)
        client.replies_queued += 1


class ReadersTouchStore(KeyValueServer):
    """Readers run their requests themselves, on the shared store, at once."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        self._on_requests(client, requests)


class CloseLeavesThreads(KeyValueServer):
    """close() stops accepting and returns; the other threads run on."""

    def close(self) -> None:
        if self._closed or self._listener is None:
            self._closed = True
            return
        self._closed = True
        self._closing.set()
        self._wake_acceptors()
        for acceptor in self._acceptors:
            acceptor.join()
        self._listener.close()


class NeverCountsDrops(KeyValueServer):
    """Forgets to count a client that disconnects."""

    def _on_left(self, client: _Client, data: None) -> None:
        super()._on_left(client, data)
        self._dropped -= 1


class StoresTerminator(KeyValueServer):
    """Keeps the request's newline at the end of the values it stores."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        super()._submit(client, [_keep_newline(r) for r in requests])


def _keep_newline(request: Request) -> Request:
    """Put's value and Update's new value are the last field, before the \\n."""
    if request.op == "Put":
        return request._replace(value=request.value + b"\n")
    if request.op == "Update":
        return request._replace(new=request.new + b"\n")
    return request


class RepliesToEveryone(KeyValueServer):
    """Sends each Get reply to every connected client, not only the asker."""

    def _reply_all(self, client: _Client, replies: list[bytes]) -> None:
        for other in self._clients.values():
            if not other.stopping:
                super()._reply_all(other, replies)


class ReaderCrashes(KeyValueServer):
    """A reader thread dies of an exception on its client's 50th request."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        client.requests_seen = getattr(client, "requests_seen", 0) + len(requests)
        if client.requests_seen >= 50:
            raise RuntimeError("bug in the reader")
        super()._submit(client, requests)


class CrashesOnBadInput(KeyValueServer):
    """A reader that meets a line it cannot parse dies of the exception."""

    def _parse_all(self, client: _Client, lines: list[bytes]) -> list[Request]:
        return [parse_request(line) for line in lines if line]


class LeavesSocketsOpen(KeyValueServer):
    """Keeps a file made from each client's socket (``makefile``) in a list and
    never closes it: closing the socket alone then leaves the connection open."""

    def _admit(self, client: _Client) -> None:
        self.__dict__.setdefault("files", []).append(client.conn.makefile("rb"))
        super()._admit(client)


class KeepsDepartedSockets(KeyValueServer):
    """When a client has gone, shuts its socket down and keeps it, to close
    at close(): one file descriptor held for every client that ever left."""

    def _report(self, client: _Client) -> None:
        if client.reports_due == 1:  # the last report: the client is reaped now
            with contextlib.suppress(OSError):  # a reset: not connected any more
                client.conn.shutdown(socket.SHUT_RDWR)
            self._departed.append(client.conn)
            client.conn = _Unclosable(client.conn)
        super()._report(client)

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        self._departed: list[socket.socket] = []
        return super().start(port, host)

    def close(self) -> None:
        super().close()
        for conn in getattr(self, "_departed", []):
            conn.close()


class _Unclosable:
    """A socket whose close() does nothing (the mutant closes it later)."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


class ThreadStartKillsAccept(KeyValueServer):
    """A thread that cannot start (the system is out of threads) raises in the
    accept thread, which dies: nobody else is ever admitted, close() hangs."""

    def _start(
        self, client: _Client, thread: threading.Thread, reports: tuple[str, ...]
    ) -> None:
        thread.start()


# ----- framing, leaks and the protocol's corners (graded: on every run) -----


class OneRecvOneLine(KeyValueServer):
    """Takes what one ``recv()`` returns for one request line."""

    def _read(self, client: _Client) -> None:
        self._start(client, client.writer, (GONE,))
        try:
            while data := client.conn.recv(RECV_SIZE):
                requests = self._parse_all(client, [data.rstrip(b"\r\n")])
                if requests:
                    self._submit(client, requests)
        except OSError:
            pass
        finally:
            self._inbox.put((LEFT, client, None))


class RecvCutsLines(KeyValueServer):
    """Splits each ``recv()`` into lines on its own: the unfinished end of one
    is taken for a whole line, and the start of the next for another."""

    def _read(self, client: _Client) -> None:
        self._start(client, client.writer, (GONE,))
        try:
            while data := client.conn.recv(RECV_SIZE):
                lines = data.removesuffix(b"\n").split(b"\n")
                requests = self._parse_all(client, lines)
                if requests:
                    self._submit(client, requests)
        except OSError:
            pass
        finally:
            self._inbox.put((LEFT, client, None))


class CloseSleepsInsteadOfJoining(KeyValueServer):
    """close() tells the threads to stop, then waits a while instead of joining
    them: they are usually done by then, so no thread is left running."""

    def close(self) -> None:
        if self._closed or self._listener is None:
            self._closed = True
            return
        self._closed = True
        self._closing.set()
        self._wake_acceptors()
        self._inbox.put((STOP, None, None))
        time.sleep(0.5)  # "long enough" for accept and the coordinator to end
        self._listener.close()


class _KeepsCarriageReturn(LineSplitter):
    def feed(self, data: bytes) -> list[bytes]:
        *lines, self._partial = (self._partial + data).split(b"\n")
        return lines


class KeepsCarriageReturn(KeyValueServer):
    """Cuts lines at ``\\n`` but keeps a ``\\r`` before it (from a client that
    ends its lines with ``\\r\\n``, as ``nc -C`` does) in the key or value."""

    def _read(self, client: _Client) -> None:
        self._start(client, client.writer, (GONE,))
        lines = _KeepsCarriageReturn(client.id)
        try:
            while data := client.conn.recv(RECV_SIZE):
                self._submit(client, self._parse_all(client, lines.feed(data)))
        except OSError:
            pass
        finally:
            self._inbox.put((LEFT, client, None))


class IgnoresUpdateOfAbsentKey(KeyValueServer):
    """An Update of a key that is absent does nothing (it should store [new])."""

    def _on_requests(self, client: _Client, requests: list[Request]) -> None:
        for request in requests:
            if request.op != "Update" or self._store.get(request.key):
                super()._on_requests(client, [request])


class RepliesToGetOfAbsentKey(KeyValueServer):
    """A Get of an absent key is answered ``key:`` (it should get no reply)."""

    def _on_requests(self, client: _Client, requests: list[Request]) -> None:
        for request in requests:
            super()._on_requests(client, [request])
            if request.op == "Get" and not self._store.get(request.key):
                self._reply(client, request.key.encode() + b":\n")


# ----- how a client loses its connection (every way has its message) ------


class DisconnectsSlowReader(KeyValueServer):
    """Disconnects a client whose outbox is full, instead of dropping replies."""

    def _queue(self, client: _Client, reply: bytes) -> None:
        if client.outbox.qsize() >= 500:
            _shutdown(client.conn)
        else:
            super()._queue(client, reply)


class HangsUpEarly(KeyValueServer):
    """Closes a client's connection after its 100th request."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        client.seen = getattr(client, "seen", 0) + len(requests)
        super()._submit(client, requests)
        if client.seen >= 100:
            _shutdown(client.conn)


class ResetsEarly(KeyValueServer):
    """Resets a client's connection (SO_LINGER 0) after its 100th request."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        client.seen = getattr(client, "seen", 0) + len(requests)
        super()._submit(client, requests)
        if client.seen >= 100 and not getattr(client, "reset", False):
            client.reset = True
            linger = struct.pack("ii", 1, 0)
            client.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            client.conn.close()  # with unread data and SO_LINGER 0: a reset


# ----- state with two owners (the ownership checker, on every run) ---------


class CounterInReaders(KeyValueServer):
    """Every reader counts the requests it reads in one shared attribute."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        self._requests_seen = getattr(self, "_requests_seen", 0) + len(requests)
        super()._submit(client, requests)


class AcceptOwnsClientTable(KeyValueServer):
    """The accept thread adds new clients to the table and counts them itself;
    the coordinator removes them and counts the drops."""

    def _admit(self, client: _Client) -> None:
        self._clients[client.id] = client
        self._active += 1
        super()._admit(client)

    def _on_joined(self, client: _Client, _: None) -> None:
        pass  # done by accept


class WriterSharesPending(KeyValueServer):
    """The coordinator counts each client's queued replies up, its writer down."""

    def _queue(self, client: _Client, reply: bytes) -> None:
        client.pending = getattr(client, "pending", 0) + 1
        super()._queue(client, reply)

    def _send(self, client: _Client, data: bytes) -> bool:
        client.pending = getattr(client, "pending", 0) - data.count(b"\n")
        return super()._send(client, data)


class PolledClosedFlag(KeyValueServer):
    """The accept thread looks at the ``_closed`` flag that close() sets, between
    short ``accept`` timeouts, instead of waiting on an Event."""

    def _wake_acceptors(self) -> None:
        pass  # each acceptor notices the flag within 50 ms

    def _accept(self, first_id: int) -> None:
        self._listener.settimeout(0.05)
        for client_id in itertools.count(first_id, ACCEPTORS):
            if self._closed:
                return
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._admit(_Client(client_id, conn))


class ReaderPeeksStore(KeyValueServer):
    """Each reader looks into the store itself (a statistic) every 20th batch.
    Two threads are inside the store at once only when that look meets the
    coordinator's work, but no message orders the look after the
    coordinator's last call: the checked store says so on every run."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        client.batches = getattr(client, "batches", 0) + 1
        if client.batches % 20 == 0:
            self._store.get(requests[0].key)  # how big is it now?
        super()._submit(client, requests)


# ----- a race the ownership checker cannot see (the amplifier's: --stress) ----


_left = 0  # a module global: not state the ownership checker watches


class GlobalDropCounter(KeyValueServer):
    """Each reader counts its client's departure in a module global: it reads
    the count, tells the coordinator, then stores the count plus one, losing
    an update when another reader stored between; count_dropped() reports it."""

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        self._base = _left
        return super().start(port, host)

    def _read(self, client: _Client) -> None:
        global _left
        self._start(client, client.writer, (GONE,))
        lines = LineSplitter(client.id)
        try:
            while data := client.conn.recv(RECV_SIZE):
                self._submit(client, self._parse_all(client, lines.feed(data)))
        except OSError:
            pass
        finally:
            seen = _left
            self._inbox.put((LEFT, client, None))
            _left = seen + 1  # lost, if another reader stored between

    def _on_count(self, _: None, answer: queue.Queue) -> None:
        answer.put((self._active, _left - self._base))


# ----- deadlocks: every thread waits, and nothing will wake any -------------
#
# The shapes students write. Each fails at once with the deadlock the
# harness finds (partA/framework/deadlock.py), naming the threads, their lines and
# what each waits for, instead of waiting out the tests' deadlines.

REPLY = "reply"  # the coordinator's note to itself: (REPLY, client, replies)


class CloseJoinsReaderFirst(KeyValueServer):
    """On close(), the coordinator joins each client's reader before it shuts
    the client's socket down: the reader sits in ``recv`` for ever."""

    def _on_stop(self, _: None, __: None) -> None:
        self._stopping = True
        for client in list(self._clients.values()):
            client.reader.join()  # the socket is shut down below: too late
            _shutdown(client.conn)
            self._stop_client(client)


class CoordinatorPostsToItself(KeyValueServer):
    """A bounded inbox (8), and readers that post without waiting for their
    turn; the coordinator posts each reply to its own inbox, to send it
    later: once the inbox is full, it waits for room that only it could make."""

    def __init__(self, store) -> None:
        super().__init__(store)
        self._inbox = queue.Queue(8)
        self._handlers[REPLY] = self._reply_now

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        self._inbox.put((REQUESTS, client, requests))

    def _on_batch(self, client: _Client, requests: list[Request]) -> None:
        self._on_requests(client, requests)

    def _reply_all(self, client: _Client, replies: list[bytes]) -> None:
        for reply in replies:
            self._inbox.put((REPLY, client, reply))  # sent when its turn comes

    def _reply_now(self, client: _Client, reply: bytes) -> None:
        super()._reply_all(client, [reply])


class ReaderTakesTwoTurns(KeyValueServer):
    """The reader waits for its turn (the coordinator's acknowledgement)
    before it posts a batch, and again after it, to be sure: one
    acknowledgement taken twice. At its second batch, the reader waits for
    the coordinator's queue, and the coordinator for the reader's."""

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        super()._submit(client, requests)
        client.turn.get()  # "wait until the coordinator has it"


class WriterWaitsForUnsetEvent(KeyValueServer):
    """Each writer waits for ``client.welcomed`` before it sends anything; it
    was meant to be set by the coordinator when the client joined, and
    nothing sets it."""

    def _admit(self, client: _Client) -> None:
        client.welcomed = threading.Event()
        client.sends_now = False  # every reply goes through the writer
        super()._admit(client)

    def _send(self, client: _Client, data: bytes) -> bool:
        client.welcomed.wait()
        return super()._send(client, data)


# Which suite must catch each mutant, and a phrase its failure message holds.
CAUGHT_BY = {
    "UnboundedOutbox": ("test_slow_client.py", "none were dropped"),
    "BlockingCoordinator": ("test_slow_client.py", "while others were slow"),
    "ReadersTouchStore": ("test_basic.py", "two threads used the store"),
    "CloseLeavesThreads": ("test_count.py", "close() returned while"),
    "NeverCountsDrops": ("test_count.py", "count_dropped() =="),
    "StoresTerminator": ("test_basic.py", "keep the '\\n'"),
    "RepliesToEveryone": ("test_basic.py", "another client's Get"),
    "ReaderCrashes": ("test_basic.py", "RuntimeError: bug in the reader"),
    "LeavesSocketsOpen": ("test_count.py", "socket(s) still open"),
    "OneRecvOneLine": ("test_basic.py", "the server cut a request"),
    "RecvCutsLines": ("test_basic.py", "the server cut a request"),
    "CloseSleepsInsteadOfJoining": ("test_basic.py", "returned without joining"),
    "KeepsCarriageReturn": ("test_basic.py", "(or the '\\r' before it)"),
    "IgnoresUpdateOfAbsentKey": ("test_basic.py", "An Update of an absent key"),
    "RepliesToGetOfAbsentKey": ("test_basic.py", "absent key gets no reply"),
    "DisconnectsSlowReader": (
        "test_slow_client.py",
        "a slow client loses replies, never its connection",
    ),
    "HangsUpEarly": ("test_basic.py", "the server closed client 0's connection"),
    "ResetsEarly": ("test_basic.py", "the server reset client 0's connection"),
    "CounterInReaders": (
        "test_basic.py",
        "self._requests_seen written by a reader thread",
    ),
    "AcceptOwnsClientTable": ("test_count.py", "written by an accept thread"),
    "WriterSharesPending": ("test_slow_client.py", "_Client.pending written by"),
    "PolledClosedFlag": ("test_basic.py", "self._closed written by the test's thread"),
    "ReaderPeeksStore": ("test_basic.py", "two threads used the store"),
}


# Deadlocks, and what their failure must say on every run: the sentence that
# names the threads and why nothing moves, and the server's line where one of
# them waits. They fail at once (partA/framework/deadlock.py), so they are not in the
# grader's self-check (CAUGHT_BY above): test_server_mutants runs them.
DEADLOCKS = {
    "CloseJoinsReaderFirst": (
        "test_basic.py",
        "coordinator waits in join() for reader-",
        "on client 0's connection, which nothing will shut down: shut a socket "
        "down before joining its reader",
        "`client.reader.join()",
    ),
    "BlockingCoordinator": (
        "test_slow_client.py",
        "coordinator waits for room in _Client.outbox, 501 of 501 full, which writer-",
        "does not read: a client that does not read must slow nobody down",
        "`client.outbox.put(reply)`",
    ),
    "CoordinatorPostsToItself": (
        "test_basic.py",
        "coordinator waits for room in self._inbox, 8 of 8 full, and it is the "
        "only thread that takes from it",
        "`self._inbox.put((REPLY, client, reply))",
    ),
    "ReaderTakesTwoTurns": (
        "test_basic.py",
        "coordinator waits for an item on self._inbox, which reader-",
        "waits for an item on _Client.turn, which coordinator puts on: each waits "
        "for the other",
        "`client.turn.get()",
    ),
    "WriterWaitsForUnsetEvent": (
        "test_basic.py",
        "waits on _Client.welcomed (an Event), which nothing sets",
        "`client.welcomed.wait()`",
    ),
}

# Races that depend on timing: how often a run catches them, with the race
# amplifier (--stress 1) and without, is measured by grading/proof/measure_partA.py.
RACY = {
    "GlobalDropCounter": ("test_count.py", "count_dropped() =="),
}

# Mutants that only the ungraded robustness suites are meant to catch.
ROBUSTNESS_CAUGHT_BY = {
    "CrashesOnBadInput": ("test_fuzz.py", "BadRequest"),
    "KeepsDepartedSockets": ("test_robustness.py", "socket open for"),
    "ThreadStartKillsAccept": (
        "test_robustness.py",
        "failed: expected count_active() == 0 and count_dropped() == 1",
    ),
}
