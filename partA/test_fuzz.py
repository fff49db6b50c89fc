"""Property-based tests: whatever bytes arrive, however they are cut into
packets, and however a client leaves, the server goes on answering correctly,
and a departed client leaves no thread or socket behind.

Hypothesis makes the inputs; one server serves all the examples of a test, so
that what one example leaves behind is seen by the next.
"""

from __future__ import annotations

import itertools
import socket

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from partA.framework.harness import (
    REPLY_TIMEOUT,
    ServerUnderTest,
    TestClient,
    expect_replies,
    wait_until,
)
from partA.framework.workload import Step
from partA.kvstore import InMemoryKVStore

# No shrinking: the examples share one server, so after a failure the next
# examples would see its aftermath, not a smaller case of the same bug.
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_example = itertools.count()

words = st.text("abc", min_size=1, max_size=3).map(str.encode)
requests = st.one_of(
    st.tuples(st.just(b"Put"), words),
    st.tuples(st.just(b"Get")),
    st.tuples(st.just(b"Delete")),
    st.tuples(st.just(b"Update"), words, words),
)

commands = st.sampled_from([b"Put", b"Get", b"Delete", b"Update", b"put", b"", b"\xff"])
near_misses = st.builds(  # a command with the wrong fields: the likeliest bad input
    lambda command, fields: b":".join([command, *fields]),
    commands,
    st.lists(st.binary(max_size=20), max_size=5),
)
bad_input = st.builds(  # lines of bad input, then perhaps half a line
    lambda lines, tail: b"".join(line + b"\n" for line in lines) + tail,
    st.lists(st.one_of(near_misses, st.binary(max_size=200)), max_size=20),
    st.binary(max_size=100),
)


def model_replies(key: bytes, script: list[tuple[bytes, ...]]) -> list[bytes]:
    """What the protocol owes for ``script`` on ``key``, from the real store."""
    store, replies = InMemoryKVStore(), []
    for op, *args in script:
        if op == b"Put":
            store.put(key.decode(), args[0])
        elif op == b"Update":
            store.update(key.decode(), args[0], args[1])
        elif op == b"Delete":
            store.delete(key.decode())
        else:
            replies += [key + b":" + value for value in store.get(key.decode())]
    return replies


def send_in_pieces(client: TestClient, data: bytes, cuts: list[int]) -> None:
    """Send ``data`` cut at ``cuts``, each piece its own packet."""
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    for start, end in itertools.pairwise(bounds):
        if end > start:
            client.send_raw(data[start:end])


def test_valid_requests_cut_anywhere(kv: ServerUnderTest) -> None:
    @EXAMPLES
    @given(
        script=st.lists(requests, min_size=1, max_size=30),
        cuts=st.lists(st.integers(0, 10_000), max_size=20),
    )
    def check(script: list[tuple[bytes, ...]], cuts: list[int]) -> None:
        key = b"key%d" % next(_example)
        lines = [b":".join((op, key, *args)) for op, *args in script]
        data = b"".join(line + b"\n" for line in lines + [b"Get:" + key])
        client = kv.connect()
        send_in_pieces(client, data, cuts)
        owed = model_replies(key, [*script, (b"Get",)])
        expect_replies(client, Step(lines[-1:], owed), "requests cut into pieces")
        client.close()

    check()
    kv.close()


def test_garbage_and_abrupt_departures(kv: ServerUnderTest) -> None:
    checker = kv.connect()
    kv.wait_for_counts(1, 0, "with one client connected")
    # Once the checker has had a reply, its threads run (counting it comes
    # first), and the thread count is the one to return to.
    checker.send([b"Put:check:0", b"Get:check"])
    expect_replies(checker, Step([b"Get:check"], [b"check:0"]), "a first Get")
    baseline = len(kv.server_threads())
    departed = 0

    @EXAMPLES
    @given(
        garbage=bad_input,
        cuts=st.lists(st.integers(0, 4000), max_size=10),
        reset=st.booleans(),
    )
    def check(garbage: bytes, cuts: list[int], reset: bool) -> None:
        nonlocal departed
        client = kv.connect()
        send_in_pieces(client, b"Put:gone:x\nGet:gone\n" + garbage, cuts)
        departed += 1
        client.leave(reset)  # a reset, not a goodbye, if reset; its socket closed
        kv.wait_for_counts(1, departed, "after a client sent garbage and left")
        wait_until(
            lambda: len(kv.server_threads()) == baseline,
            REPLY_TIMEOUT,
            lambda: (
                f"the departed client's threads to end ({baseline} expected;"
                f" still running: {', '.join(kv.server_threads())})"
            ),
        )
        checker.send([b"Put:check:%d" % departed, b"Get:check"])
        owed = [b"check:%d" % n for n in range(departed + 1)]
        expect_replies(checker, Step([b"Get:check"], owed), "a Get after garbage")

    check()
    kv.close()
