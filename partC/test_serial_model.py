"""Transactions against a serial model: whatever the interleaving, the result
must be that of running the committed transactions one after another.

Hypothesis writes two or three clients' transactions (a few Gets, Puts,
Deletes, Updates and Lists on two keys, then Commit or Rollback) and an order
in which to interleave their requests. One test thread plays them in that
order, each request followed by a ``Ping`` so that it is served before the
next one is sent: the interleaving is exactly the one chosen, every run.

Serializable means: some order of the committed transactions, run one at a
time on the store as it was at the start, gives every reply those
transactions received (their Gets and Lists) and the store found at the end.
With at most three transactions, the test tries every order. It also checks
that no transaction aborts without cause: one that aborted must have
overlapped another transaction that committed changes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partA.framework.harness import TestClient
from partA.kvstore import InMemoryKVStore
from partC.framework.harness import (
    LIST_END,
    PartCServerUnderTest,
    list_all,
    read_until,
    sync,
)
from partC.store import Change, apply_change

INTERLEAVINGS = 1000  # examples: each one interleaving of fresh transactions
INITIAL = ["Put:a:0"]  # the store every example starts from

keys = st.sampled_from(["a", "b"])  # the reset deletes both
values = st.sampled_from(["0", "1", "2"])
operations = st.one_of(
    st.builds(lambda k: f"Get:{k}", keys),
    st.builds(lambda k, v: f"Put:{k}:{v}", keys, values),
    st.builds(lambda k: f"Delete:{k}", keys),
    st.builds(lambda k, o, n: f"Update:{k}:{o}:{n}", keys, values, values),
    st.just("List"),
)
transactions = st.builds(
    lambda ops, end: ["Begin", *ops, end],
    st.lists(operations, min_size=1, max_size=4),
    st.sampled_from(["Commit", "Commit", "Commit", "Rollback"]),
)


@dataclass
class Played:
    """One client's transaction as played: each request with its reply lines."""

    number: int
    steps: list[tuple[str, list[bytes]]] = field(default_factory=list)
    began: int = 0  # the position of Begin in the interleaving
    ended: int = 0  # the position of Commit or Rollback

    @property
    def outcome(self) -> bytes:
        return self.steps[-1][1][0] if self.steps[-1][1] else b"(no reply)"

    def __str__(self) -> str:
        shown = "; ".join(
            f"{request} -> {b' '.join(reply).decode() or 'nothing'}"
            for request, reply in self.steps
        )
        return f"client {self.number}: {shown}"


def play(client: TestClient, request: str) -> list[bytes]:
    """Send one request and a Ping; return the request's reply lines."""
    client.send([request.encode(), b"Ping"])
    lines = read_until(client, b"Pong", f"the reply to {request!r}")
    if request == "List":
        if not lines or lines[-1] != LIST_END:
            pytest.fail(f"a List's reply did not end with End:List: {lines}")
        lines.pop()
    return lines


# ----- the serial model -----------------------------------------------------------


def model_read(store: InMemoryKVStore, request: str) -> list[bytes] | None:
    """The reply a read owes on ``store``; None for a change."""
    if request == "List":
        contents = store.dump()
        return [k.encode() + b":" + v for k in sorted(contents) for v in contents[k]]
    op, key, *fields = request.split(":")
    if op == "Get":
        return [key.encode() + b":" + v for v in store.get(key)]
    change = Change(op.lower(), key, *(f.encode() for f in fields))
    apply_change(store, change)
    return None


def replays(store: InMemoryKVStore, transaction: Played) -> bool:
    """Run the transaction on ``store``; did each read get the reply it got?"""
    for request, reply in transaction.steps[1:-1]:
        owed = model_read(store, request)
        if owed is not None and owed != reply:
            return False
    return True


def serial_order(committed: list[Played], final: list[bytes]) -> bool:
    """Does some order of ``committed``, run one by one, explain it all?"""
    for order in itertools.permutations(committed):
        store = InMemoryKVStore()
        for request in INITIAL:
            model_read(store, request)
        if all(replays(store, t) for t in order) and model_read(store, "List") == final:
            return True
    return False


def check_no_needless_abort(played: list[Played]) -> None:
    for transaction in played:
        if not transaction.outcome.startswith(b"Aborted:"):
            continue
        overlapping = [
            other
            for other in played
            if other.outcome == b"Committed"
            and transaction.began < other.ended < transaction.ended
            and any(not request.startswith(("Get", "List"))
                    for request, _ in other.steps[1:-1])
        ]  # fmt: skip
        if not overlapping:
            pytest.fail(
                f"a transaction aborted though no other transaction committed a "
                f"change while it was open: {transaction}",
                pytrace=False,
            )


# ----- the test -------------------------------------------------------------------


def test_committed_transactions_match_a_serial_order(kv: PartCServerUnderTest) -> None:
    keeper = kv.connect()  # resets the store between examples, and reads it
    clients: list[TestClient] = []  # kept from one example to the next

    @settings(
        max_examples=INTERLEAVINGS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data(), scripts=st.lists(transactions, min_size=2, max_size=3))
    def check(data: st.DataObject, scripts: list[list[str]]) -> None:
        keeper.send([b"Delete:a", b"Delete:b", *(r.encode() for r in INITIAL)])
        sync(keeper, "the store's reset before an example")
        clients.extend(kv.connect() for _ in range(len(scripts) - len(clients)))
        played = [Played(client.number) for client in clients[: len(scripts)]]
        try:
            interleave(data, scripts, clients, played)
        except BaseException:
            for client in clients:  # it may be mid-transaction, or owed replies
                client.close()
            clients.clear()
            raise
        final = list_all(keeper, "a List after the transactions")
        committed = [t for t in played if t.outcome == b"Committed"]
        if not serial_order(committed, final):
            pytest.fail(
                "no serial order of the committed transactions gives the replies "
                "they received and the final store. Played, in this interleaving: "
                + " | ".join(str(t) for t in played)
                + f" | final store: {b' '.join(final).decode() or 'empty'}",
                pytrace=False,
            )
        check_no_needless_abort(played)

    check()
    kv.close()


def interleave(
    data: st.DataObject,
    scripts: list[list[str]],
    clients: list[TestClient],
    played: list[Played],
) -> None:
    """Play every script's requests, in an order that Hypothesis picks.

    The order is a shuffle of client numbers, one for each request: the
    k-th time client i comes up, it sends the k-th request of its script.
    """
    turns = [i for i, script in enumerate(scripts) for _ in script]
    next_step = [0] * len(scripts)
    for position, i in enumerate(data.draw(st.permutations(turns), label="order")):
        request = scripts[i][next_step[i]]
        next_step[i] += 1
        played[i].steps.append((request, play(clients[i], request)))
        if request == "Begin":
            played[i].began = position
        elif request in ("Commit", "Rollback"):
            played[i].ended = position
