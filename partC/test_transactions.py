"""Transactions: invisible until Commit, applied at once, discarded by Rollback,
aborted with a reason when another client changed what they read, lost (and
blocking nobody) when their client disconnects.

Every request is followed by a ``Ping`` whose ``Pong`` says it has been served,
so the order of events between clients is the order the test chose.
"""

from __future__ import annotations

import time

import pytest

from partA.framework.harness import REPLY_TIMEOUT, TestClient
from partC.framework.harness import PartCServerUnderTest, ask, list_all

KEYS = 10  # changes in the transaction whose atomicity is watched


def run(client: TestClient, *requests: bytes) -> None:
    """Send requests that owe no reply (changes), and wait until served."""
    for request in requests:
        ask(client, request, [], f"{request!r}")


def begin(client: TestClient) -> None:
    ask(client, b"Begin", [b"Begun"], "Begin")


def commit(client: TestClient) -> bytes:
    """Commit; return the reply, which must be Committed or Aborted:<reason>."""
    client.send([b"Commit"])
    reply = client.read_line()
    if reply != b"Committed" and not (reply or b"").startswith(b"Aborted:"):
        pytest.fail(
            f"Commit was answered {reply!r}: expected Committed or "
            "Aborted:<reason>, one line",
            pytrace=False,
        )
    return reply


def expect_abort(client: TestClient, why: str) -> None:
    reply = commit(client)
    if reply == b"Committed":
        pytest.fail(
            f"Commit was answered Committed, but it should have aborted: {why}. "
            "Committing it would not match any serial order of the transactions.",
            pytrace=False,
        )
    assert len(reply) > len(b"Aborted:"), "an Aborted reply must say why"


def test_changes_are_invisible_until_commit(kv: PartCServerUnderTest) -> None:
    writer, other = kv.connect(), kv.connect()
    begin(writer)
    run(writer, b"Put:x:1", b"Put:y:2", b"Update:y:2:3")
    ask(writer, b"Get:y", [b"y:3"], "a Get of the transaction's own change")
    seen = list_all(other)
    if seen:
        pytest.fail(
            f"another client's List showed {seen}: a transaction's changes were "
            "visible to another client before its Commit",
            pytrace=False,
        )
    ask(other, b"Get:x", [], "another client's Get, before the Commit")
    assert commit(writer) == b"Committed", "a transaction without conflict aborted"
    assert list_all(other) == [b"x:1", b"y:3"], "the committed changes are missing"


def test_reads_see_the_transactions_own_changes(kv: PartCServerUnderTest) -> None:
    client = kv.connect()
    run(client, b"Put:k:a", b"Put:j:a")
    begin(client)
    run(client, b"Update:k:a:b")
    ask(client, b"Get:k", [b"k:b"], "a Get after an Update in the transaction")
    run(client, b"Delete:j", b"Put:n:1")
    assert list_all(client) == [b"k:b", b"n:1"], (
        "a List in a transaction must show the store as the transaction sees it"
    )
    ask(client, b"Get:j", [], "a Get after a Delete in the transaction")
    ask(client, b"Rollback", [b"RolledBack"], "Rollback")
    assert list_all(client) == [b"j:a", b"k:a"], "Rollback must discard every change"


def test_after_rollback_or_abort_the_client_goes_on(kv: PartCServerUnderTest) -> None:
    client, other = kv.connect(), kv.connect()
    begin(client)
    run(client, b"Put:a:1")
    ask(client, b"Rollback", [b"RolledBack"], "Rollback")
    run(client, b"Put:b:1")  # outside a transaction: at once
    assert list_all(other) == [b"b:1"], "a Put after Rollback must not be held back"
    begin(client)
    ask(client, b"Get:b", [b"b:1"], "a Get in a transaction")
    run(other, b"Put:b:2")
    expect_abort(client, "another client changed b after the transaction read it")
    begin(client)  # an aborted transaction is over: a new one may begin
    ask(client, b"Commit", [b"Committed"], "an empty transaction's Commit")


def test_commit_applies_everything_at_once(kv: PartCServerUnderTest) -> None:
    """Another client polls with List while a Commit is served: it must see
    none of the transaction's changes, or all of them."""
    writer, watcher = kv.connect(), kv.connect()
    for round_number in range(5):
        keys = [b"r%d_%02d" % (round_number, i) for i in range(KEYS)]
        begin(writer)
        run(writer, *(b"Put:" + key + b":v" for key in keys))
        writer.send([b"Commit"])
        watch_until_committed(watcher, keys)
        assert writer.read_line() == b"Committed", "a lone transaction aborted"


def watch_until_committed(watcher: TestClient, keys: list[bytes]) -> None:
    deadline = time.monotonic() + REPLY_TIMEOUT
    while time.monotonic() < deadline:
        seen = {line.partition(b":")[0] for line in list_all(watcher)}
        visible = [key for key in keys if key in seen]
        if len(visible) == len(keys):
            return
        if visible:
            pytest.fail(
                f"another client's List showed {len(visible)} of the {len(keys)} "
                "changes of a transaction being committed: a half-applied "
                "Commit. Apply a transaction's changes all at once.",
                pytrace=False,
            )
    pytest.fail(f"the committed changes were not visible after {REPLY_TIMEOUT} s")


def test_a_stale_read_aborts_the_transaction(kv: PartCServerUnderTest) -> None:
    client, other = kv.connect(), kv.connect()
    run(other, b"Put:x:0")
    begin(client)
    ask(client, b"Get:x", [b"x:0"], "a Get in a transaction")
    run(other, b"Put:x:1")  # not in a transaction: takes effect at once
    run(client, b"Put:y:1")
    expect_abort(client, "another client changed x after the transaction read it")
    assert list_all(other) == [b"x:0", b"x:1"], "an aborted transaction left changes"


def test_of_two_conflicting_transactions_the_second_aborts(
    kv: PartCServerUnderTest,
) -> None:
    first, second = kv.connect(), kv.connect()
    run(first, b"Put:x:0")
    for client in (first, second):
        begin(client)
        ask(client, b"Get:x", [b"x:0"], "a Get in a transaction")
    run(second, b"Update:x:0:second")
    assert commit(second) == b"Committed", "a transaction without conflict aborted"
    run(first, b"Update:x:0:first")
    expect_abort(first, "x was changed by a commit after this transaction read it")
    assert list_all(first) == [b"x:second"], "an aborted transaction left changes"


def test_a_list_conflicts_with_any_later_change(kv: PartCServerUnderTest) -> None:
    client, other = kv.connect(), kv.connect()
    begin(client)
    assert list_all(client) == [], "List of an empty store"
    run(other, b"Put:new:1")
    expect_abort(client, "a key appeared after the transaction listed every key")


def test_transactions_that_do_not_conflict_both_commit(
    kv: PartCServerUnderTest,
) -> None:
    first, second = kv.connect(), kv.connect()
    for client, key in ((first, b"a"), (second, b"b")):
        begin(client)
        ask(client, b"Get:" + key, [], "a Get in a transaction")
        run(client, b"Put:" + key + b":1", b"Put:shared:" + key)
    for client in (second, first):  # blind Puts to one key do not conflict
        assert commit(client) == b"Committed", (
            "a transaction aborted although nothing it read had changed"
        )
    assert list_all(first) == [b"a:1", b"b:1", b"shared:b", b"shared:a"], (
        "the store does not hold both transactions' changes in commit order"
    )


def test_a_client_that_leaves_loses_its_transaction(kv: PartCServerUnderTest) -> None:
    leaver, other = kv.connect(), kv.connect()
    begin(leaver)
    run(leaver, b"Put:x:1", b"Delete:y")
    leaver.close()
    kv.wait_for_counts(1, 1, "after a client left in the middle of a transaction")
    assert list_all(other) == [], "a disconnected client's transaction was applied"
    begin(other)
    ask(other, b"Get:x", [], "a Get in another transaction")
    run(other, b"Put:x:2")
    assert commit(other) == b"Committed", (
        "a transaction aborted because of another client's unfinished one"
    )
    assert list_all(other) == [b"x:2"]
