"""The test harness for partC: partA's, with a durable store and partC's replies.

* ``CheckedDurableStore``: partA's race-catching ``CheckedStore`` behind the
  ``DurableKVStore`` interface; it also counts changes and flushes, so a test
  can tell whether a reply left before the change it follows was flushed.
* ``PartCServerUnderTest``: partA's ``ServerUnderTest`` (free port, deadlines,
  leak checks on close) handing the server a ``CheckedDurableStore``.
* ``ask``, ``read_until``, ``list_all``: send requests and read partC's
  replies, failing in words when they do not come.

As in partA, nothing sleeps to order events: a test knows a request has been
served when the reply to a later request on the same connection arrives
(``Ping`` answers ``Pong`` for that).
"""

from __future__ import annotations

import socket

import pytest

from partA.framework.harness import (
    REPLY_TIMEOUT,
    CheckedStore,
    ServerUnderTest,
    TestClient,
    expect_replies,
)
from partA.framework.workload import Step
from partC.store import Change, DurableKVStore, apply_change

DEFAULT_SERVER = "partC.server:KeyValueServer"
MAX_OUTBOX = 500  # the contract's number, fixed here on purpose
LIST_END = b"End:List"


class CheckedDurableStore(DurableKVStore):
    """A ``CheckedStore`` with ``apply`` and ``flush``, counting both.

    ``changes`` counts the changes made so far; ``flushed`` is what it was at
    the last ``flush()``. Only the coordinator may call in, as in partA.
    """

    def __init__(self, checked: CheckedStore) -> None:
        self._checked = checked
        self.changes = 0
        self.flushed = 0
        self.flushes = 0

    def put(self, key: str, value: bytes) -> None:
        self._checked.put(key, value)
        self.changes += 1

    def get(self, key: str) -> list[bytes]:
        return self._checked.get(key)

    def delete(self, key: str) -> None:
        self._checked.delete(key)
        self.changes += 1

    def update(self, key: str, old: bytes, new: bytes) -> None:
        self._checked.update(key, old, new)
        self.changes += 1

    def apply(self, changes: list[Change]) -> None:
        for change in changes:
            apply_change(self, change)

    def flush(self) -> None:
        self.flushed = self.changes
        self.flushes += 1

    def dump(self) -> dict[str, list[bytes]]:
        return self._checked.dump()


class PartCServerUnderTest(ServerUnderTest):
    """partA's ``ServerUnderTest``; the server gets a ``CheckedDurableStore``.

    ``store`` is still the ``CheckedStore`` (for partA's ``check_store``);
    ``durable`` is the store the server was given.
    """

    def __init__(self, server_class: type) -> None:
        def make(checked: CheckedStore) -> object:
            self.durable = CheckedDurableStore(checked)
            return server_class(self.durable)

        super().__init__(make)

    def connect(self, rcvbuf: int | None = None) -> TestClient:
        """partA's ``connect``, without Nagle's delay on the test's small sends."""
        client = super().connect(rcvbuf)
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client


# ----- talking to the server ---------------------------------------------------


def ask(client: TestClient, request: bytes, replies: list[bytes], what: str) -> None:
    """Send ``request``; its replies must be exactly ``replies``, then ``Pong``."""
    client.send([request, b"Ping"])
    expect_replies(client, Step([request], [*replies, b"Pong"]), what)


def read_until(client: TestClient, last: bytes, what: str) -> list[bytes]:
    """Read lines up to ``last``; return those before it. Fail at the deadline."""
    lines = []
    while (line := client.read_line()) != last:
        if line is None:
            pytest.fail(
                f"client {client.number} waited {REPLY_TIMEOUT:.0f} s for "
                f"{last!r} ending {what}; got {len(lines)} line(s) before it: "
                f"{', '.join(repr(x[:40]) for x in lines[-5:]) or 'none'}",
                pytrace=False,
            )
        lines.append(line)
    return lines


def list_all(client: TestClient, what: str = "a List") -> list[bytes]:
    """Send ``List``; return its ``key:value`` lines (without ``End:List``)."""
    client.send([b"List"])
    return read_until(client, LIST_END, what)


def sync(client: TestClient, what: str) -> list[bytes]:
    """Ping; return whatever arrived before the ``Pong`` (notifications...)."""
    client.send([b"Ping"])
    return read_until(client, b"Pong", what)
