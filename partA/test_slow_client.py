"""TestSlowClient: clients that do not read must not slow anybody down.

Slow clients send their whole workload (values padded to about 4 KB) and read
nothing until the server has handled all of it. Their receive buffers are
small, so their replies pile up in the server: a correct server keeps at most
``MAX_OUTBOX`` of them per client and drops the rest. Meanwhile the normal
clients must receive every reply they are owed, and when the slow clients
finally read, each must get at least ``MAX_OUTBOX`` replies (those queued),
in order, and fewer than it was owed (some were dropped).

No timer decides anything: the test knows the server has handled a slow
client's requests when the client's last Put becomes visible to another
connection, and knows a slow client has read all there is when the reply to a
final Get (its "fence") arrives.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest

from partA.framework.harness import (
    REPLY_TIMEOUT,
    Patience,
    ServerUnderTest,
    TestClient,
    check_store,
    expect_replies,
    run_clients,
    wait_until,
)
from partA.framework.workload import Script, Step, expected_store, split_deletes

MAX_OUTBOX = 500  # the contract's number, fixed here on purpose
PAD_SIZE = 4096
SLOW_RCVBUF = 4096  # bytes: the kernel lets replies pile up in the server
FENCE_AGAIN = 0.05  # seconds without a reply before a slow reader asks again


def run_slow(
    kv: ServerUnderTest, msgs: int, deletes: int, slow: int, normal: int
) -> None:
    rng = random.Random(f"slow-{slow}-{normal}")
    kv.check_requests = True
    pad = "".join(rng.choices(string.ascii_letters, k=PAD_SIZE))
    slow_conns = [kv.connect(rcvbuf=SLOW_RCVBUF) for _ in range(slow)]
    for conn in slow_conns:
        conn.role, conn.reading = f"slow client {conn.number}", False
    normal_conns = [kv.connect() for _ in range(normal)]
    probe = kv.connect()
    shares = split_deletes(deletes, slow + normal)
    scripts = {
        conn: Script(str(conn.number), msgs, share, pad, rng)
        for conn, share in zip(slow_conns + normal_conns, shares, strict=True)
    }

    def send_all_then_mark(conn: TestClient) -> None:
        # A server that stops reading blocks these sends first, or the normal
        # clients' replies: the same bug, so both failures say so.
        during = " (a slow client, reading no replies, while others were slow)"
        conn.send([b"Put:fence_%d:fence" % conn.number], during)
        for batch in scripts[conn].batches(rng_of(conn)):
            conn.send(batch.requests, during)
        conn.send([b"Put:done_%d:yes" % conn.number], during)

    def normal_work(conn: TestClient) -> None:
        for number, batch in enumerate(scripts[conn].batches(rng_of(conn)), 1):
            conn.send(batch.requests)
            expect_replies(
                conn, batch, f"batch {number} (a normal client, while others were slow)"
            )

    work = {conn: send_all_then_mark for conn in slow_conns}
    work.update({conn: normal_work for conn in normal_conns})
    run_clients(work)
    probe.send([b"Put:probe:here"])
    for conn in slow_conns:
        wait_until(
            lambda conn=conn: handled(probe, conn.number),
            REPLY_TIMEOUT,
            f"the server to handle slow client {conn.number}'s requests "
            "(it stopped serving while a client was not reading?)",
        )
    run_clients({conn: check_slow_reader(scripts[conn]) for conn in slow_conns})
    kv.close()
    check_store(kv, expected_store(scripts.values()) | fences(slow_conns))


def rng_of(conn: TestClient) -> random.Random:
    """A client's own seeded generator, for cutting its work in batches
    (the clients run at once: a shared generator would draw in any order)."""
    return random.Random(f"batches-{conn.number}")


def handled(probe: TestClient, number: int) -> bool:
    """Has the slow client's last Put (done_N) become visible to the probe?"""
    probe.send([b"Get:done_%d" % number, b"Get:probe"])
    first = probe.read_line()
    if first == b"probe:here":
        return False
    if first != b"done_%d:yes" % number:  # nothing, or the wrong reply
        expect_replies(
            probe,
            Step([b"Get:done_%d" % number], [b"done_%d:yes" % number]),
            "a probe Get",
        )
    expect_replies(probe, Step([b"Get:probe"], [b"probe:here"]), "a probe Get")
    return True


def check_slow_reader(script: Script) -> Callable[[TestClient], None]:
    """A slow client's last work: read until the reply to a final Get (its
    fence) arrives, and check what came before it."""

    def read_the_rest(conn: TestClient) -> None:
        owed = [line for event in script.events for line in event.replies]
        fence = b"fence_%d:fence" % conn.number
        position = received = 0  # where in ``owed`` the last reply was found
        patience = Patience(REPLY_TIMEOUT)
        conn.send([b"Get:fence_%d" % conn.number])
        conn.reading = True
        # The first fence Get finds the outbox full and its reply is dropped,
        # as a rule: once the replies stop coming, ask again (a fence reply
        # more or less changes nothing: the first one ends the reading).
        while (line := conn.read_line(timeout=FENCE_AGAIN)) != fence:
            if conn.ended is not None:
                conn.reading = False  # it lost its connection while not reading
                conn.fail(
                    f"{conn.lost_connection()} while it was not reading "
                    f"({conn.ended}; it had read {received} replies since it "
                    f"began to): {conn.blame()}"
                )
            if patience.over():
                conn.fail(
                    f"slow client {conn.number} read for {patience.waited()} "
                    "without getting the reply to its last Get"
                    + conn.where_threads_wait()
                )
            if line is None:  # that Get's reply was dropped, the outbox was full
                conn.send([b"Get:fence_%d" % conn.number])
                continue
            found = find_in_order(conn, owed, position, line)
            if found > position + 1:
                conn.note(
                    "dropped", f"{found - position - 1} replies owed were dropped"
                )
            position = found
            received += 1
        check_counts(conn, received, len(owed))

    return read_the_rest


def check_counts(conn: TestClient, received: int, owed: int) -> None:
    """Some replies dropped, and at least the outbox's worth delivered."""
    if received < MAX_OUTBOX:
        conn.fail(
            f"slow client {conn.number} received only {received} of the "
            f"{owed} replies it was owed once it read; the {MAX_OUTBOX} "
            "queued for it must still be delivered"
        )
    if received == owed:
        conn.fail(
            f"slow client {conn.number} received all {owed} replies it was "
            f"owed: none were dropped. Each client may have at most {MAX_OUTBOX} "
            "replies waiting; drop new ones while its outbox is full."
        )


def find_in_order(
    conn: TestClient, owed: list[bytes], position: int, line: bytes
) -> int:
    """Return where ``line`` is in ``owed`` after ``position``; fail if absent."""
    try:
        return owed.index(line, position) + 1
    except ValueError:
        pytest.fail(
            f"slow client {conn.number} got {line[:60]!r}, which it was not owed "
            "at that point: replies may be dropped, never reordered or invented",
            pytrace=False,
        )


def fences(conns: list[TestClient]) -> dict[str, list[bytes]]:
    """The keys the test itself stored, beside the workload's."""
    extra = {"probe": [b"here"]}
    for conn in conns:
        extra[f"fence_{conn.number}"] = [b"fence"]
        extra[f"done_{conn.number}"] = [b"yes"]
    return extra


class TestSlowClient:
    def test_slow_client1(self, kv: ServerUnderTest) -> None:
        run_slow(kv, msgs=2000, deletes=100, slow=1, normal=1)

    def test_slow_client2(self, kv: ServerUnderTest) -> None:
        run_slow(kv, msgs=2000, deletes=100, slow=4, normal=2)
