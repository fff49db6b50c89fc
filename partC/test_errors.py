"""Bad requests: one ``Error:<reason>`` line each, and the connection goes on."""

from __future__ import annotations

import pytest

from partC.framework.harness import PartCServerUnderTest, ask

BAD_LINES = [
    (b"Bogus", b"Error:unknown command 'Bogus'"),
    (b"Put:a", b"Error:Put takes 3 fields, got 2"),
    (b"Get:a:b", b"Error:Get takes 2 fields, got 3"),
    (b"Get:", b"Error:empty key"),
    (b"Get:\xff\xfe", b"Error:the key is not valid UTF-8"),
    (b"Put:Apple:1", b"Error:a key may not start with a capital letter"),
    (b"List:a", b"Error:List takes no fields"),
    (b"Begin:now", b"Error:Begin takes no fields"),
    (b"Commit", b"Error:no transaction to commit"),
    (b"Rollback", b"Error:no transaction to roll back"),
]


@pytest.mark.parametrize(("line", "reply"), BAD_LINES, ids=lambda x: repr(x)[2:-1])
def test_a_bad_line_gets_one_error_line(
    kv: PartCServerUnderTest, line: bytes, reply: bytes
) -> None:
    client = kv.connect()
    ask(client, line, [reply], f"the bad request {line!r}")
    ask(client, b"Put:a:1", [], "a Put after a bad request")
    ask(client, b"Get:a", [b"a:1"], "a Get after a bad request")


def test_errors_come_in_turn_among_good_replies(kv: PartCServerUnderTest) -> None:
    client = kv.connect()
    client.send([b"Put:k:1", b"Get:k", b"Nope", b"Get:k", b"Put:k", b"Ping"])
    for index, wanted in enumerate(
        [b"k:1", b"Error:unknown command 'Nope'", b"k:1", b"Error:Put takes 3 "
         b"fields, got 2", b"Pong"]
    ):  # fmt: skip
        got = client.read_line()
        assert got == wanted, (
            f"reply {index + 1} was {got!r}, expected {wanted!r}: each request's "
            "reply (an error too) comes in the order the requests were sent"
        )


def test_a_second_begin_is_an_error_and_keeps_the_transaction(
    kv: PartCServerUnderTest,
) -> None:
    client = kv.connect()
    ask(client, b"Begin", [b"Begun"], "Begin")
    ask(client, b"Put:a:1", [], "a Put in a transaction")
    ask(client, b"Begin", [b"Error:a transaction is open already"], "a second Begin")
    ask(client, b"Get:a", [b"a:1"], "a Get in the transaction still open")
    ask(client, b"Commit", [b"Committed"], "Commit")


def test_an_empty_line_is_skipped_without_a_reply(kv: PartCServerUnderTest) -> None:
    client = kv.connect()
    ask(client, b"", [], "an empty line")
