"""TestBasic: clients Put, Update, Get and Delete; every reply is checked.

The classic parameters (clients x messages per client, deletes in all). Each
client works on its own keys, so every reply it is owed is known exactly, in
order, and so is the store the run must leave behind.
"""

from __future__ import annotations

import random

from partA.framework.harness import (
    ServerUnderTest,
    TestClient,
    check_store,
    expect_replies,
    run_clients,
)
from partA.framework.workload import Script, expected_store, split_deletes


def run_basic(kv: ServerUnderTest, clients: int, msgs: int, deletes: int) -> None:
    rng = random.Random(f"basic-{clients}-{msgs}-{deletes}")
    kv.check_requests = True
    kv.wait_for_counts(0, 0, "before any client connected")
    connections = [kv.connect() for _ in range(clients)]
    kv.wait_for_counts(clients, 0, f"after {clients} client(s) connected")
    scripts = {
        conn: Script(str(conn.number), msgs, share, "", rng)
        for conn, share in zip(
            connections, split_deletes(deletes, clients), strict=True
        )
    }
    plans = {conn: script.batches(rng) for conn, script in scripts.items()}

    def work(conn: TestClient) -> None:
        for number, batch in enumerate(plans[conn], 1):
            conn.send(batch.requests)
            expect_replies(conn, batch, f"its batch {number} of {len(plans[conn])}")

    run_clients({conn: work for conn in connections})
    for conn, script in scripts.items():  # nothing unowed may be left in transit
        fence = script.fence()
        conn.send(fence.requests)
        expect_replies(conn, fence, "a last Get, sent after every client finished")
    kv.close()
    check_store(kv, expected_store(scripts.values()))


class TestBasic:
    def test_basic1(self, kv: ServerUnderTest) -> None:
        run_basic(kv, clients=1, msgs=100, deletes=10)

    def test_basic2(self, kv: ServerUnderTest) -> None:
        run_basic(kv, clients=1, msgs=1500, deletes=50)

    def test_basic3(self, kv: ServerUnderTest) -> None:
        run_basic(kv, clients=2, msgs=20, deletes=5)

    def test_basic4(self, kv: ServerUnderTest) -> None:
        run_basic(kv, clients=2, msgs=1500, deletes=50)

    def test_basic5(self, kv: ServerUnderTest) -> None:
        run_basic(kv, clients=5, msgs=50, deletes=5)

    def test_basic6(self, kv: ServerUnderTest) -> None:
        run_basic(kv, clients=10, msgs=1500, deletes=50)
