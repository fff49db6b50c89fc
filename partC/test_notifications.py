"""Notifications: a subscriber hears of every change made by others, through
its bounded outbox, so a subscriber that does not read loses notifications
but slows nobody and stays connected.

A test knows what a subscriber has been sent so far by a ``Ping``: every
notification queued before the ``Pong`` arrives before it.
"""

from __future__ import annotations

import time

import pytest

from partA.framework.harness import REPLY_TIMEOUT, TestClient
from partC.framework.harness import MAX_OUTBOX, PartCServerUnderTest, ask, sync

KEY_PAD = 4000  # notifications name the key: long keys fill buffers fast
CHANGES = 3000  # notifications owed to the slow subscriber: more than fit
SLOW_RCVBUF = 4096  # bytes: the kernel lets notifications pile up in the server


def subscribe(client: TestClient) -> None:
    ask(client, b"Subscribe", [b"Subscribed"], "Subscribe")


def test_a_subscriber_hears_of_others_changes_not_its_own(
    kv: PartCServerUnderTest,
) -> None:
    listener, other = kv.connect(), kv.connect()
    subscribe(listener)
    listener.send([b"Put:mine:1"])
    own = sync(listener, "the reply to a Ping after the subscriber's own Put")
    assert own == [], (
        f"a subscriber received {own} after a Put of its own: a subscriber is "
        "notified of changes made by others, never of its own changes"
    )
    ask(other, b"Put:a:1", [], "a Put by another client")
    ask(other, b"Update:a:1:2", [], "an Update by another client")
    ask(other, b"Delete:a", [], "a Delete by another client")
    got = sync(listener, "the notifications")
    expected = [b"Changed:put:a", b"Changed:update:a", b"Changed:delete:a"]
    assert got == expected, (
        f"the subscriber received {got}; expected {expected}: one line for each "
        "change made by another client, in order, and none for its own changes"
    )


def test_only_subscribers_hear_and_unsubscribe_stops_it(
    kv: PartCServerUnderTest,
) -> None:
    listener, bystander, other = kv.connect(), kv.connect(), kv.connect()
    subscribe(listener)
    ask(other, b"Put:a:1", [], "a Put by another client")
    assert sync(listener, "a notification") == [b"Changed:put:a"]
    assert sync(bystander, "nothing") == [], (
        "a client that never subscribed received notifications"
    )
    ask(listener, b"Unsubscribe", [b"Unsubscribed"], "Unsubscribe")
    ask(other, b"Put:a:2", [], "a Put after Unsubscribe")
    assert sync(listener, "nothing") == [], "notifications went on after Unsubscribe"


def test_a_commit_notifies_each_change_once_committed(
    kv: PartCServerUnderTest,
) -> None:
    listener, other = kv.connect(), kv.connect()
    subscribe(listener)
    for request, reply in [(b"Begin", b"Begun"), (b"Put:a:1", None),
                           (b"Put:b:1", None), (b"Delete:a", None)]:  # fmt: skip
        ask(other, request, [reply] if reply else [], f"{request!r} in a transaction")
    assert sync(listener, "nothing yet") == [], (
        "a subscriber was notified of changes of a transaction not yet committed"
    )
    ask(other, b"Commit", [b"Committed"], "Commit")
    got = sync(listener, "the committed changes")
    expected = [b"Changed:put:a", b"Changed:put:b", b"Changed:delete:a"]
    assert got == expected, f"after Commit the subscriber got {got}, not {expected}"


def churn(count: int) -> tuple[list[bytes], list[bytes]]:
    """``count`` changes (a Put and a Delete of each long key), and their
    notifications."""
    requests, notifications = [], []
    for i in range(count // 2):
        key = b"k%05d_" % i + b"x" * KEY_PAD
        requests += [b"Put:" + key + b":v", b"Delete:" + key]
        notifications += [b"Changed:put:" + key, b"Changed:delete:" + key]
    return requests, notifications


def test_a_slow_subscriber_loses_notifications_and_slows_nobody(
    kv: PartCServerUnderTest,
) -> None:
    slow, writer = kv.connect(rcvbuf=SLOW_RCVBUF), kv.connect()
    subscribe(slow)
    requests, owed = churn(CHANGES)
    stalled = (
        "while a subscriber was not reading (a notification must never wait "
        "for room in a subscriber's outbox)"
    )
    writer.send(requests, during=f", {CHANGES} changes {stalled}")
    ask(writer, b"Get:absent", [], f"{CHANGES} changes, {stalled}")
    received = read_slowly(slow, owed)
    if received < MAX_OUTBOX:
        pytest.fail(
            f"the slow subscriber received only {received} of the {len(owed)} "
            f"notifications once it read; the {MAX_OUTBOX} queued for it must "
            "still be delivered",
            pytrace=False,
        )
    if received == len(owed):
        pytest.fail(
            f"the slow subscriber received all {len(owed)} notifications: none "
            f"were dropped. A client may have at most {MAX_OUTBOX} replies "
            "waiting, notifications included; drop new ones while it is full.",
            pytrace=False,
        )
    kv.wait_for_counts(2, 0, "after a subscriber had lost notifications")


def read_slowly(conn: TestClient, owed: list[bytes]) -> int:
    """Read until a ``Pong``; check the notifications before it came in order."""
    position = received = 0
    deadline = time.monotonic() + REPLY_TIMEOUT
    conn.send([b"Ping"])
    while (line := conn.read_line(timeout=0.5)) != b"Pong":
        if time.monotonic() > deadline:
            pytest.fail(
                f"the slow subscriber read for {REPLY_TIMEOUT:.0f} s without "
                "getting a Pong: was it disconnected for being slow?",
                pytrace=False,
            )
        if line is None:  # the Pong was dropped: the outbox was full then
            conn.send([b"Ping"])
            continue
        try:
            position = owed.index(line, position) + 1
        except ValueError:
            pytest.fail(
                f"the slow subscriber got {line[:60]!r}, not owed at that point: "
                "notifications may be dropped, never reordered or invented",
                pytrace=False,
            )
        received += 1
    return received
