"""List: every key and value, keys in sorted order, values in list order, then
``End:List``; inside a transaction, the transaction's own view."""

from __future__ import annotations

from partC.framework.harness import (
    LIST_END,
    PartCServerUnderTest,
    ask,
    list_all,
    read_until,
)


def test_list_of_an_empty_store_is_just_its_end(kv: PartCServerUnderTest) -> None:
    client = kv.connect()
    assert list_all(client) == [], "List of an empty store must be End:List alone"


def test_list_sorts_keys_and_keeps_each_list_in_order(
    kv: PartCServerUnderTest,
) -> None:
    client = kv.connect()
    client.send([b"Put:pear:2", b"Put:apple:1", b"Put:pear:1", b"Put:fig:9"])
    client.send([b"Put:apple:0", b"Update:fig:9:8", b"Put:gone:x", b"Delete:gone"])
    got = list_all(client)
    expected = [b"apple:1", b"apple:0", b"fig:8", b"pear:2", b"pear:1"]
    assert got == expected, (
        f"List replied {got}; expected {expected}: keys sorted, each key's "
        "values in the order they were stored, deleted keys left out"
    )


def test_list_shows_other_clients_keys(kv: PartCServerUnderTest) -> None:
    writer, reader = kv.connect(), kv.connect()
    ask(writer, b"Put:b:2", [], "a Put")
    ask(writer, b"Put:a:1", [], "a Put")
    assert list_all(reader) == [b"a:1", b"b:2"], "List must show every client's keys"


def test_list_is_one_reply_that_a_key_cannot_fake(kv: PartCServerUnderTest) -> None:
    """``End:List`` cannot be a value line: keys may not start with a capital."""
    client = kv.connect()
    ask(
        client,
        b"Put:End:List",
        [b"Error:a key may not start with a capital letter"],
        "a Put whose key would make List's end line",
    )
    many = [b"Put:k%04d:v" % i for i in range(1200)]  # more lines than MAX_OUTBOX
    client.send(many)
    got = list_all(client, "a List of 1200 lines")
    assert len(got) == 1200, (
        f"a List of 1200 values came back with {len(got)} lines: a List is one "
        "reply, queued whole, however long"
    )
    assert got == sorted(got), "List's lines are not in key order"


def test_list_right_after_changes_sees_them(kv: PartCServerUnderTest) -> None:
    client = kv.connect()
    for round_number in range(20):
        client.send([b"Put:r%02d:v" % round_number, b"List"])
        got = read_until(client, LIST_END, "a List")
        assert len(got) == round_number + 1, (
            f"List sent right after Put number {round_number + 1} on the same "
            f"connection saw {len(got)} values: requests take effect in order"
        )
