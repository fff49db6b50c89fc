"""TestCount: clients connect and close in rounds; the counts must follow.

After each round, ``count_active()`` must equal the clients still connected
and ``count_dropped()`` the clients closed so far (a running total).
"""

from __future__ import annotations

from collections import deque

from partA.framework.harness import ServerUnderTest, TestClient


def run_count(kv: ServerUnderTest, rounds: list[tuple[int, int]]) -> None:
    kv.check_requests = True
    kv.wait_for_counts(0, 0, "before any client connected")
    live: deque[TestClient] = deque()
    dropped = 0
    for number, (connect, close) in enumerate(rounds, 1):
        live.extend(kv.connect() for _ in range(connect))
        for _ in range(close):  # the oldest first
            live.popleft().close()
            dropped += 1
        kv.wait_for_counts(
            len(live),
            dropped,
            f"after round {number} ({connect} connected, {close} closed)",
        )
    kv.close()


class TestCount:
    def test_count1(self, kv: ServerUnderTest) -> None:
        run_count(kv, [(20, 0), (20, 20), (0, 20)])

    def test_count2(self, kv: ServerUnderTest) -> None:
        rounds = [(15, 0), (25, 25), (45, 35), (50, 35), (30, 1), (0, 15), (0, 20)]
        run_count(kv, rounds)
