"""Deliberately broken servers: each is the reference with one classic bug.

Instructor-only (never in the student handout). The partA suites must fail on
every one of them, for the reason given in ``CAUGHT_BY``; the tests in
``test_server_mutants.py`` check that, and the grading self-check reuses them.
Each mutant changes one small method of the reference, so that what differs
is easy to see.
"""

from __future__ import annotations

import queue
import threading

from partA.server import KeyValueServer, Request, _Client, parse_request


class UnboundedOutbox(KeyValueServer):
    """Never drops a reply: a slow reader's replies pile up without end."""

    def _admit(self, client: _Client) -> None:
        client.outbox = queue.Queue()
        super()._admit(client)

    def _reply(self, client: _Client, reply: bytes) -> None:
        client.outbox.put_nowait(reply)


class BlockingCoordinator(KeyValueServer):
    """Waits for room in a full outbox, so one slow reader stalls everyone."""

    def _reply(self, client: _Client, reply: bytes) -> None:
        client.outbox.put(reply)


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
        self._wake_accept()
        self._accept_thread.join()
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

    def _reply(self, client: _Client, reply: bytes) -> None:
        for other in self._clients.values():
            if not other.stopping:
                super()._reply(other, reply)


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


class ThreadStartKillsAccept(KeyValueServer):
    """A thread that cannot start (the system is out of threads) raises in the
    accept thread, which dies: nobody else is ever admitted, close() hangs."""

    def _start(self, client: _Client, thread: threading.Thread, report: str) -> bool:
        thread.start()
        return True


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
}

# Mutants that only the ungraded robustness suites are meant to catch.
ROBUSTNESS_CAUGHT_BY = {
    "CrashesOnBadInput": ("test_fuzz.py", "BadRequest"),
    "ThreadStartKillsAccept": (
        "test_robustness.py",
        "failed: expected count_active() == 0 and count_dropped() == 1",
    ),
}
