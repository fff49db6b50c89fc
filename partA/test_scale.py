"""Scale: a thousand clients at once are accepted, served and counted, and
``close()`` with all of them still connected leaves nothing behind.

How fast this goes (and the memory it takes) is measured by the benchmarks,
not asserted here: the deadlines below are only ceilings.
"""

from __future__ import annotations

import time

import pytest

from partA.harness import ServerUnderTest, Step, expect_replies

CLIENTS = 1000


@pytest.mark.slow
def test_thousand_clients(kv: ServerUnderTest) -> None:
    clients = [kv.connect() for _ in range(CLIENTS)]
    kv.wait_for_counts(CLIENTS, 0, f"after {CLIENTS} clients connected")
    for client in clients:
        n = client.number
        client.send([b"Put:key_%d:value_%d" % (n, n), b"Get:key_%d" % n])
    for client in clients:  # every one is served, and only with its own reply
        n = client.number
        expect_replies(
            client, Step([b"Get:key_%d" % n], [b"key_%d:value_%d" % (n, n)]), "its Get"
        )
    started = time.monotonic()
    kv.close()  # with all of them still connected; checks for leaks too
    seconds = time.monotonic() - started
    print(f"close() with {CLIENTS} clients connected took {seconds:.3f} s (-rP shows)")
