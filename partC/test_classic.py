"""partA's classic behaviour holds on the partC server, and replies wait for
the flush: a change is durable before any later reply leaves the server."""

from __future__ import annotations

from partA.test_basic import run_basic
from partA.test_slow_client import run_slow
from partC.framework.harness import PartCServerUnderTest, ask


def test_classic_basic_workload(kv: PartCServerUnderTest) -> None:
    run_basic(kv, clients=5, msgs=300, deletes=20)


def test_classic_slow_client(kv: PartCServerUnderTest) -> None:
    run_slow(kv, msgs=2000, deletes=100, slow=1, normal=1)


def test_a_reply_after_a_change_leaves_only_once_it_is_flushed(
    kv: PartCServerUnderTest,
) -> None:
    client = kv.connect()
    for number in range(1, 21):
        client.send([b"Put:k:%d" % number, b"Ping"])
        assert client.read_line() == b"Pong", "Ping must be answered Pong"
        flushed = kv.durable.flushed
        assert flushed >= number, (
            f"Pong arrived after Put number {number}, but the store was flushed "
            f"only up to change {flushed}: call store.flush() before sending any "
            "reply that follows a change"
        )


def test_flushes_are_grouped_by_batch(kv: PartCServerUnderTest) -> None:
    client = kv.connect()
    ask(client, b"Ping", [], "a Ping")
    before = kv.durable.flushes
    client.send([b"Put:k:%d" % number for number in range(200)])
    ask(client, b"Get:absent", [], "a Get after 200 Puts sent at once")
    flushes = kv.durable.flushes - before
    assert flushes <= 20, (
        f"200 Puts sent at once cost {flushes} flushes: flush once per batch of "
        "requests (a flush to disk takes milliseconds), not once per change"
    )
