"""Bad input and vanishing clients: the server skips what it cannot use and
keeps serving everybody, the sender included.

The classic protocol has no error reply, so these tests check that a bad line
gets no reply and changes nothing, by sending a good Get after it: the reply to
that Get must be the next line to arrive. What they check is what HANDOUT.md
promises, in its words ("Bad input"); nothing here is imported from the
server's module.
"""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from partA.framework.harness import ServerUnderTest, TestClient, expect_replies
from partA.framework.workload import Step

MAX_LINE = 64 * 1024  # HANDOUT's longest line, in bytes: fixed here on purpose


def assert_store_reads(conn: TestClient, key: bytes, values: list[bytes]) -> None:
    """Get ``key`` plus a marker; the values, then the marker, must come back."""
    marker = b"marker_%d" % conn.number  # a key of this client's own
    conn.send([b"Put:" + marker + b":here", b"Get:" + key, b"Get:" + marker])
    owed = [key + b":" + v for v in values] + [marker + b":here"]
    expect_replies(conn, Step([b"Get:" + key], owed), "a Get after bad input")
    conn.send([b"Delete:" + marker])


# Each kind of bad line, named as HANDOUT.md names it (a test of the kit checks
# that it does), with examples of it.
BAD_LINES = {
    "an unknown command": [b"Bogus:key:value", b"put:key:value"],
    "a wrong number of fields": [
        b"Put:key",
        b"Put:key:a:b",
        b"Get",
        b"Update:key:old",
    ],
    "an empty key": [b"Put::value"],
    "a key that is not valid UTF-8": [b"Put:\xff\xfe:value"],
    "an empty line": [b""],
}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(line, id=f"{kind}: {line!r}")
        for kind, lines in BAD_LINES.items()
        for line in lines
    ],
)
def test_bad_line_is_skipped(kv: ServerUnderTest, bad: bytes) -> None:
    conn, other = kv.connect(), kv.connect()
    conn.send([b"Put:key:before", bad, b"Put:key:after"])
    assert_store_reads(conn, b"key", [b"before", b"after"])
    assert_store_reads(other, b"key", [b"before", b"after"])
    kv.wait_for_counts(2, 0, "after a bad line (nobody should be disconnected)")
    kv.close()


def test_value_bytes_are_kept_as_sent(kv: ServerUnderTest) -> None:
    conn = kv.connect()
    conn.send([b"Put:key:caf\xc3\xa9 \xff", b"Put:key:"])
    assert_store_reads(conn, b"key", [b"caf\xc3\xa9 \xff", b""])
    kv.close()


def test_crlf_terminator_is_stripped(kv: ServerUnderTest) -> None:
    conn = kv.connect()
    conn.send_raw(b"Put:key:one\r\nUpdate:key:one:two\r\n")
    assert_store_reads(conn, b"key", [b"two"])
    kv.close()


def test_over_long_line_is_skipped(kv: ServerUnderTest) -> None:
    conn = kv.connect()
    conn.send_raw(b"Put:key:before\nPut:key:" + b"x" * (MAX_LINE + 10))
    conn.send_raw(b"y" * 100_000 + b"\nPut:key:after\n")
    assert_store_reads(conn, b"key", [b"before", b"after"])
    kv.close()


def test_longest_line_is_accepted(kv: ServerUnderTest) -> None:
    value = b"v" * (MAX_LINE - len(b"Put:key:"))
    conn = kv.connect()
    conn.send([b"Put:key:" + value])
    assert_store_reads(conn, b"key", [value])
    kv.close()


def test_request_split_byte_by_byte(kv: ServerUnderTest) -> None:
    conn = kv.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in b"Put:key:slow\nGet:key\n":
        conn.send_raw(bytes([byte]))
    expect_replies(conn, Step([b"Get:key"], [b"key:slow"]), "a Get sent byte by byte")
    kv.close()


def test_client_vanishing_mid_line(kv: ServerUnderTest) -> None:
    leaving, staying = kv.connect(), kv.connect()
    leaving.send_raw(b"Put:key:whole\nPut:key:half")
    leaving.leave()  # and the server closes its socket of it
    kv.wait_for_counts(1, 1, "after a client closed in the middle of a line")
    assert_store_reads(staying, b"key", [b"whole"])
    kv.close()


def test_client_resetting_with_replies_owed(kv: ServerUnderTest) -> None:
    rude, polite = kv.connect(), kv.connect()
    rude.send([b"Put:key:value"] + [b"Get:key"] * 2000)
    rude.leave(reset=True)  # and the server closes its socket of it
    kv.wait_for_counts(1, 1, "after a client reset its connection")
    assert_store_reads(polite, b"key", [b"value"])
    kv.close()


def test_replies_still_sent_after_client_stops_sending(kv: ServerUnderTest) -> None:
    conn = kv.connect()
    conn.send([b"Put:key:value", b"Get:key", b"Get:key"])
    conn.stop_sending()  # "I am done sending", as nc does
    expect_replies(conn, Step([b"Get:key"], [b"key:value"] * 2), "replies after EOF")
    assert conn.read_line(timeout=5) is None, "the server should close the connection"
    kv.wait_for_counts(0, 1, "after a client finished and was answered")
    kv.close()


def test_close_with_a_slow_reader_connected(kv: ServerUnderTest) -> None:
    slow = kv.connect(rcvbuf=4096)
    slow.send([b"Put:key:" + b"x" * 4000] + [b"Get:key"] * 3000)
    kv.wait_for_counts(1, 0, "while a client is not reading")
    kv.close()  # must not wait for the slow reader, and must leave nothing behind


def test_start_twice_and_close_twice(kv: ServerUnderTest) -> None:
    with pytest.raises(RuntimeError):
        kv.call("a second start(0)", kv.server.start, 0)
    kv.close()
    kv.call("a second close()", kv.server.close)
    with pytest.raises(RuntimeError):
        kv.call("count_active() after close()", kv.server.count_active)


def test_port_taken_raises_oserror(kv: ServerUnderTest) -> None:
    other = type(kv.server)(kv.store)
    with pytest.raises(OSError):  # noqa: PT011 (the API promises OSError; its words vary)
        kv.call("start() on a port in use", other.start, kv.port)
    kv.call("close() of a server that failed to start", other.close)
    kv.close()


@pytest.mark.parametrize("which", [1, 2], ids=["first-thread", "second-thread"])
def test_client_whose_thread_cannot_start_is_disconnected(
    kv: ServerUnderTest,
    which: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Out of threads (thousands of clients, or a limit): the ``which``-th
    thread the server starts for a new client cannot start. That client alone
    is disconnected and a WARNING logged; nothing hangs, and the next client
    is served."""
    start = threading.Thread.start
    started: list[str] = []  # the server's threads started since the test began
    refused: list[str] = []

    def start_or_fail(thread: threading.Thread) -> None:
        if not thread.name.startswith("test-"):  # the harness's own helpers
            started.append(thread.name)
            if len(started) == which:
                refused.append(thread.name)
                raise RuntimeError("can't start new thread")  # what CPython says
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_or_fail)
    with caplog.at_level(logging.WARNING, logger="partA.server"):
        unlucky = kv.connect()
        unlucky.send([b"Put:key:lost", b"Get:key"], cut=False)  # it may be gone
        reply = unlucky.read_line()  # None at once if it is disconnected
        if not refused:  # the server started fewer threads per client
            assert reply == b"key:lost", f"client 0 got {reply!r} for its Get"
            pytest.skip(f"the server started {len(started)} thread(s) per client")
        assert reply is None, (
            f"the client whose thread {refused[0]!r} could not start "
            f"(Thread.start() raised RuntimeError) should be disconnected, "
            f"but it got the reply {reply!r}"
        )
        kv.wait_for_counts(0, 1, f"after a client's thread {refused[0]!r} failed")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings, (
        f"nothing was logged at WARNING on logger 'partA.server' when thread "
        f"{refused[0]!r} could not start (HANDOUT.md: What to log)"
    )
    lucky = kv.connect()
    assert_store_reads(lucky, b"other", [])
    kv.wait_for_counts(1, 1, "after the next client was served")
    kv.close()  # joins every thread that did start; leaves nothing behind
