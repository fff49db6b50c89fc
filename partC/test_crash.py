"""A write is durable once the server has sent any later reply on its connection.

The test runs the real thing: ``srunner --server partC --store SPEC`` as a
process of its own, with a SQLite store (and a PostgreSQL one, where
PostgreSQL can run: see ``partC/framework/pgcluster.py``). Several clients load it at
once, and it is killed with SIGKILL in the middle of the load (no chance to
flush or close anything). Then the test starts the server again on the same
store and reads everything back with ``List``. It does that for a few
rounds, on the one store.

Each client sends "units", each with keys of its own, so that what the store
holds tells exactly which units got in:

* plain clients send one to four ``Put`` of new keys and then a ``Get`` of
  the last one; its reply acknowledges every unit sent before it;
* transaction clients also send ``Begin``, two ``Put`` and ``Commit``; the
  ``Committed`` reply acknowledges the transaction and all before it.

After each restart, for every client: every acknowledged unit is there;
no unit is there in part (a transaction whole or not at all); the units
there are a prefix of those it sent (the server applies one connection's
requests in order, and a commit covers all it applied); nothing is there
that nobody sent.
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from partC.framework.pgcluster import postgres_for_tests
from runners.test_runners import LISTENING, SRUNNER, Runner

pytestmark = [
    pytest.mark.skipif(
        not hasattr(signal, "SIGKILL"), reason="kills the server with SIGKILL (POSIX)"
    ),
    pytest.mark.skipif(
        not (Path(__file__).parent / "server.py").exists(),
        reason="needs partC's server (partC/server.py), which flushes before replies",
    ),
]

ROUNDS = 3  # kill and restart this many times, on one file
PLAIN_CLIENTS = 4
TRANSACTION_CLIENTS = 4
CLIENTS = PLAIN_CLIENTS + TRANSACTION_CLIENTS
ACKS_BEFORE_KILL = 1000  # units acknowledged in a round before the kill
DEADLINE = 20.0  # seconds; any one wait

Unit = dict[bytes, bytes]  # the keys a unit writes, and each key's value


class LoadClient:
    """One connection writing units until the server goes away.

    ``units`` is every unit it has started to send, in order; ``acked`` how
    many of them the server has acknowledged. Owned by the client's thread
    until that thread has ended; acks go to the test on ``acks``.
    """

    def __init__(self, name: str, transactions: bool, acks: queue.SimpleQueue) -> None:
        self.name = name
        self.transactions = transactions
        self.units: list[Unit] = []
        self.acked = 0
        self.found = 0  # units found after the last restart (set by the test)
        self.wrong_reply = ""  # what the server said that it should not have
        self._acks = acks
        self._numbers = itertools.count()

    def run(self, port: int) -> None:
        """Write units on a new connection until it breaks or a reply is wrong."""
        try:
            with socket.create_connection(("127.0.0.1", port), DEADLINE) as conn:
                lines = LineReader(conn)
                while not self.wrong_reply:
                    request, replies = self._next_request()
                    conn.sendall(request)
                    self._check(replies, lines.read(len(replies)))
        except (OSError, EOFError):
            pass  # the server was killed: this is how every client ends

    def _next_request(self) -> tuple[bytes, list[bytes]]:
        """The next request bytes, and the reply lines that acknowledge them."""
        n = next(self._numbers)
        if self.transactions and n % 2 == 0:
            unit = {b"%st%da" % (self.key, n): b"a%d" % n}
            unit[b"%st%db" % (self.key, n)] = b"b%d" % n
            puts = b"".join(b"Put:%s:%s\n" % item for item in unit.items())
            self.units.append(unit)
            return b"Begin\n" + puts + b"Commit\n", [b"Begun", b"Committed"]
        units = [{b"%sk%d_%d" % (self.key, n, i): b"v%d" % n} for i in range(n % 4 + 1)]
        self.units.extend(units)
        (key, value), = units[-1].items()  # fmt: skip
        puts = b"".join(b"Put:%s:%s\n" % next(iter(u.items())) for u in units)
        return puts + b"Get:%s\n" % key, [b"%s:%s" % (key, value)]

    def _check(self, expected: list[bytes], replies: list[bytes]) -> None:
        if replies != expected:
            self.wrong_reply = f"expected {expected}, got {replies}"
            return
        self._acks.put(len(self.units) - self.acked)
        self.acked = len(self.units)

    @property
    def key(self) -> bytes:
        return self.name.encode()


class LineReader:
    """Reads whole reply lines from a socket; raises EOFError when it closes."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = b""

    def read(self, count: int) -> list[bytes]:
        while self._buffer.count(b"\n") < count:
            data = self._conn.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n", count)
        return lines


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for this session: ``KV_POSTGRES_DSN``, or our own."""
    yield from postgres_for_tests()


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ``--store`` spec for a new, empty store: a file, or a schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'crash.db'}"
        return
    import psycopg

    dsn, schema = request.getfixturevalue("postgres_dsn"), f"crash_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"CREATE SCHEMA {schema}")
    yield f"postgres:{dsn} options=-csearch_path={schema}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def start_server(store_spec: str) -> Iterator[Callable[[], tuple[Runner, int]]]:
    """``start_server()`` runs srunner with partC's server on one store."""
    started: list[Runner] = []
    spec = store_spec

    def start() -> tuple[Runner, int]:
        args = [SRUNNER, "--server", "partC", "--store", spec, "--port", "0"]
        started.append(Runner(args))
        return started[-1], int(started[-1].wait_for_line(LISTENING).group(1))

    yield start
    for runner in started:
        runner.kill()


def load_and_kill(server: Runner, port: int, round_number: int) -> list[LoadClient]:
    """Load the server from every client; SIGKILL it mid-load; return the clients."""
    acks: queue.SimpleQueue[int] = queue.SimpleQueue()
    clients = [
        LoadClient(f"r{round_number}c{n}", n >= PLAIN_CLIENTS, acks)
        for n in range(CLIENTS)
    ]
    threads = [
        threading.Thread(target=c.run, args=(port,), name=f"load-{c.name}")
        for c in clients
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for_acks(acks, ACKS_BEFORE_KILL)
    finally:
        server.popen.send_signal(signal.SIGKILL)  # while the clients still write
        for thread in threads:
            thread.join(DEADLINE)
    assert server.finish() == -signal.SIGKILL, f"srunner was not killed; {server}"
    assert not any(t.is_alive() for t in threads), "a load client did not end"
    return clients


def wait_for_acks(acks: queue.SimpleQueue[int], target: int) -> None:
    """Wait until the clients have had ``target`` units acknowledged in all."""
    total, deadline = 0, time.monotonic() + DEADLINE
    while total < target:
        try:
            total += acks.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(
                f"the server acknowledged {total} writes in {DEADLINE}s;"
                f" expected {target} before the kill"
            ) from None


def read_everything(port: int) -> dict[bytes, list[bytes]]:
    """Every key and its values, by ``List`` on a new connection."""
    with socket.create_connection(("127.0.0.1", port), DEADLINE) as conn:
        conn.sendall(b"List\n")
        received = b""
        while not received.endswith(b"End:List\n"):
            data = conn.recv(1 << 20)
            assert data, f"the server closed the connection during List: {received!r}"
            received += data
    stored: dict[bytes, list[bytes]] = {}
    for line in received.splitlines()[:-1]:
        key, _, value = line.partition(b":")
        stored.setdefault(key, []).append(value)
    return stored


def check_client(client: LoadClient, stored: dict[bytes, list[bytes]]) -> None:
    """Check one client's units against what is stored; note how many are."""
    assert not client.wrong_reply, f"client {client.name}: {client.wrong_reply}"
    there = []
    for number, unit in enumerate(client.units):
        found = [stored.get(key) == [value] for key, value in unit.items()]
        assert all(found) or not any(found), (
            f"client {client.name}: unit {number} ({sorted(unit)}) is there in"
            " part only: a change was half-committed"
        )
        there.append(all(found))
    count = there.count(True)
    assert there == [True] * count + [False] * (len(there) - count), (
        f"client {client.name}: the units found are not the first ones it sent:"
        f" {[n for n, yes in enumerate(there) if yes]}"
    )
    assert count >= client.acked, (
        f"client {client.name}: the server acknowledged {client.acked} units"
        f" before it was killed, but only {count} survived the restart"
    )
    client.found = count


def check_all(clients: list[LoadClient], stored: dict[bytes, list[bytes]]) -> None:
    """Check every client; nothing else may be stored."""
    sent = {key for client in clients for unit in client.units for key in unit}
    strangers = sorted(set(stored) - sent)
    assert not strangers, f"keys nobody sent are stored: {strangers[:10]}"
    for client in clients:
        check_client(client, stored)


def writes(clients: list[LoadClient], units: Callable[[LoadClient], int]) -> int:
    """The writes (Puts) in the first ``units(client)`` units of every client."""
    return sum(
        sum(len(unit) for unit in client.units[: units(client)]) for client in clients
    )


def test_acknowledged_writes_survive_sigkill(
    start_server: Callable[[], tuple[Runner, int]], store_spec: str
) -> None:
    clients: list[LoadClient] = []
    for round_number in range(1, ROUNDS + 1):
        server, port = start_server()
        check_all(clients, read_everything(port))  # earlier rounds: still there
        clients += load_and_kill(server, port, round_number)
        server, port = start_server()
        check_all(clients, read_everything(port))
        server.popen.send_signal(signal.SIGINT)
        assert server.finish() == 0, f"srunner did not stop cleanly; {server}"
        kind = store_spec.partition(":")[0]
        print(kind, round_report(round_number, clients[-CLIENTS:]))


def round_report(round_number: int, clients: list[LoadClient]) -> str:
    """The round's figures: writes (Puts) sent, acknowledged, found after restart."""
    sent = writes(clients, lambda c: len(c.units))
    acked = writes(clients, lambda c: c.acked)
    found = writes(clients, lambda c: c.found)
    committed = sum(c.transactions and len(u) == 2 for c in clients for u in c.units)
    return (
        f"crash round {round_number}: writes sent {sent}, acknowledged {acked},"
        f" found after restart {found} ({committed} transactions sent)"
    )
