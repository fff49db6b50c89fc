"""partC's key-value server: partA's, plus List, notifications and transactions.

Theory of operation
-------------------
This server is partA's ``KeyValueServer`` with more commands. The threads,
queues and rules are partA's (read the top of ``partA/server.py`` first):
readers parse, one ``coordinator`` owns all the state, writers send, and
every client's ``outbox`` holds at most ``MAX_OUTBOX`` replies, dropping the
rest. partC adds state, all of it owned by the coordinator:

* the subscribers: the clients that asked for notifications;
* the open transactions, one at most per client, each holding its own view
  of the keys it has touched and the changes it will make at ``Commit``.

Replies of a batch wait for the flush. The coordinator serves the requests
that one ``recv`` brought as a batch. The replies the batch produces (to the
asker, and notifications to others) are held back until the batch is done;
then, if the batch changed the store, the coordinator calls
``store.flush()`` once, and only then queues the replies. So a change is
durable before any later reply on its connection leaves the server, and a
disk store pays for one flush per batch, not one per change.

Notifications: each change made outside a transaction, and each change of a
committed transaction, sends ``Changed:<op>:<key>`` to every subscriber but
the client that made it. It goes through the subscriber's outbox like any
reply, so a subscriber that does not read loses notifications, slows nobody,
and is never disconnected for it.

Transactions are serializable, by optimistic concurrency control. A
transaction takes no locks and makes nobody wait. Its changes go into its own
view (a small store holding the keys it has touched, copied from the real
store when first touched) and into a list of changes; its reads come from
that view, so it sees its own changes and nobody else sees them. Whenever a
change reaches the real store, the coordinator tells every other open
transaction, which marks that key stale if it had touched it. ``Commit``
then checks: if a key the transaction read went stale (or anything changed
after the transaction's ``List``, which read every key), what it read is no
longer true, so it is aborted with the reason; otherwise its changes are
applied with one ``store.apply(...)``, atomically, as if the whole
transaction ran at that instant. Changes made without reading (``Put``,
``Delete``, ``Update`` alone) never cause an abort: they are replayed on the
store as it is at ``Commit``, in order, which is what running the
transaction at that instant would do. A client that disconnects loses its
open transaction, and nobody else ever waited for it.

Protocol: partA's four requests keep their meaning and their replies (none
for ``Put``, ``Delete``, ``Update``); partC adds:

==================  ======================================================
request             reply (each line ends in ``\\n``)
==================  ======================================================
``List``            ``key:value`` for every value of every key, keys in
                    sorted order (Python's ``sorted``), values in list order;
                    then ``End:List``. Queued as one outbox entry: delivered
                    whole or dropped whole.
``Subscribe``       ``Subscribed``; from then on ``Changed:<op>:<key>`` (op:
                    ``put``, ``delete`` or ``update``) for every change
                    made by another client.
``Unsubscribe``     ``Unsubscribed``; no more notifications.
``Begin``           ``Begun``; or ``Error:`` if a transaction is open.
``Commit``          ``Committed``, or ``Aborted:<reason>`` when another
                    client changed something the transaction read; or
                    ``Error:`` if no transaction is open.
``Rollback``        ``RolledBack``; or ``Error:`` if no transaction is open.
``Ping``            ``Pong``: marks the end of the replies before it (a
                    ``Get``'s, which have no end line of their own).
a bad line          ``Error:<reason>``; the connection goes on.
==================  ======================================================

Inside a transaction, ``Get`` and ``List`` show the transaction's view;
``Put``, ``Delete`` and ``Update`` change only that view until ``Commit``.
``Subscribe``, ``Unsubscribe`` and ``Ping`` are not part of a transaction.

Keys may not start with a capital letter (a request that uses one gets an
``Error:`` line). Every line the server itself makes (``End:List``,
``Changed:...``, ``Error:...``, ``Committed``...) starts with one, so it can
never be mistaken for a ``key:value`` line. A bad line is anything partA
skips (see ``partA/server.py``), and a partC command with fields; an empty
line is still skipped quietly, and a line over ``MAX_LINE`` bytes is still
skipped with a warning only (the reader drops it before it is a request).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from partA.kvstore import InMemoryKVStore
from partA.server import MAX_OUTBOX, BadRequest, Request
from partA.server import KeyValueServer as _PartAServer
from partA.server import parse_request as _parse_classic
from partC.store import Change, DurableKVStore, MemoryStore, apply_change

__all__ = ["MAX_OUTBOX", "BadRequest", "KeyValueServer", "Request", "parse_request"]

LIST_END = b"End:List"
"""The line that ends a ``List`` reply."""

NOTIFICATION = b"Changed:%s:%s"
"""A notification: the operation (put, delete, update) and the key."""

COMMANDS = ("List", "Subscribe", "Unsubscribe", "Begin", "Commit", "Rollback", "Ping")
"""partC's requests; each is the whole line, with no fields."""

log = logging.getLogger(__name__)


def parse_request(line: bytes) -> Request:
    """Parse one request line (without its terminator): partA's four or partC's.

    partC's commands come back as ``Request(op, "")``.

    Raises:
        BadRequest: the line is no request of the protocol, or its key
            starts with a capital letter.
    """
    # BEGIN SOLUTION
    op = line.partition(b":")[0].decode("ascii", "replace")
    if op in COMMANDS:
        if line != op.encode():
            raise BadRequest(f"{op} takes no fields")
        return Request(op, "")
    request = _parse_classic(line)
    if request.key[0].isupper():
        raise BadRequest("a key may not start with a capital letter")
    return request
    # END SOLUTION


# BEGIN SOLUTION
BAD = "Bad"  # the op of a Request that stands for a bad line; its key says why


class Transaction:
    """One client's open transaction; owned by the coordinator.

    ``view`` holds every key the transaction has touched, as the
    transaction sees it; the real store holds the others. A key is copied
    from the store when first touched, so ``stale`` (keys that others
    changed since) is what makes that copy out of date.
    """

    def __init__(self) -> None:
        self.view = InMemoryKVStore()
        self.touched: set[str] = set()
        self.read: set[str] = set()  # keys whose values the client was shown
        self.stale: set[str] = set()  # touched keys changed by others since
        self.changes: list[Change] = []  # to apply at Commit, in order
        self.listed = False  # a List read every key
        self.changed_after_list: str | None = None  # the first key changed since

    def get(self, store: DurableKVStore, key: str) -> list[bytes]:
        self._touch(store, key)
        self.read.add(key)
        return self.view.get(key)

    def change(self, store: DurableKVStore, change: Change) -> None:
        self._touch(store, change.key)
        apply_change(self.view, change)
        self.changes.append(change)

    def list(self, store: DurableKVStore) -> dict[str, list[bytes]]:
        every_key = store.keys()
        for key in every_key:
            self._touch(store, key)
        self.read |= self.touched
        self.listed = True
        return self.view.dump()

    def on_change(self, key: str) -> None:
        """Another client changed ``key`` in the store."""
        if key in self.touched:
            self.stale.add(key)
        if self.listed and self.changed_after_list is None:
            self.changed_after_list = key

    def conflict(self) -> str | None:
        """Why this transaction may not commit, or None if it may."""
        if stale_reads := sorted(self.stale & self.read):
            return (
                f"key {stale_reads[0]} was changed by another client after "
                "this transaction read it"
            )
        if self.changed_after_list is not None:
            return (
                f"key {self.changed_after_list} was changed by another client "
                "after this transaction's List"
            )
        return None

    def _touch(self, store: DurableKVStore, key: str) -> None:
        if key not in self.touched:
            self.touched.add(key)
            for value in store.get(key):
                self.view.put(key, value)


_CHANGES = {"Put": "put", "Delete": "delete", "Update": "update"}


def _change_of(request: Request) -> Change:
    return Change(_CHANGES[request.op], request.key, request.value, request.new)


# END SOLUTION


class KeyValueServer(_PartAServer):
    """partA's server plus ``List``, notifications and transactions.

    The same public methods as partA's (``start``, ``count_active``,
    ``count_dropped``, ``close``), the same threads and the same outbox rule;
    the protocol is in this module's docstring and in ``partC/HANDOUT.md``.

    The store is a ``DurableKVStore``: ``Commit`` applies a transaction with
    one ``store.apply(...)``, and the server calls ``store.flush()`` before
    it sends any reply that follows a change. Only the coordinator uses it.
    """

    def __init__(self, store: DurableKVStore | None = None) -> None:
        """Create a server keeping its data in ``store`` (default: in memory).

        Starts nothing, like partA's.
        """
        # BEGIN SOLUTION
        super().__init__(MemoryStore() if store is None else store)
        # Owned by the coordinator thread:
        self._subscribers: set[int] = set()  # client ids
        self._transactions: dict[int, Transaction] = {}  # client id -> its own
        self._held: list[tuple[object, bytes]] = []  # this batch's replies
        self._dirty = False  # this batch changed the store: flush it
        self._commands: dict[str, Callable] = {
            "Get": self._get,
            "Put": self._change,
            "Delete": self._change,
            "Update": self._change,
            "List": self._list,
            "Subscribe": self._subscribe,
            "Unsubscribe": self._unsubscribe,
            "Begin": self._begin,
            "Commit": self._commit,
            "Rollback": self._rollback,
            "Ping": self._ping,
            BAD: self._bad,
        }
        # END SOLUTION

    # BEGIN SOLUTION
    # ----- reader threads ------------------------------------------------------

    def _parse(self, line: bytes) -> Request:
        """Parse one line; a bad one becomes a ``BAD`` request, answered in turn."""
        try:
            return parse_request(line)
        except BadRequest as error:
            return Request(BAD, str(error))

    # ----- the coordinator thread ----------------------------------------------

    def _on_requests(self, client, requests: list[Request]) -> None:
        """Serve a batch; flush if it changed the store; then release its replies."""
        if self._stopping:
            return
        self._held, self._dirty = [], False
        for request in requests:
            self._commands[request.op](client, request)
        held, self._held = self._held, []
        if self._dirty:
            self._flush()
        for target, replies in itertools.groupby(held, key=lambda held: held[0]):
            super()._reply_all(target, [reply for _, reply in replies])

    def _flush(self) -> None:
        self._store.flush()

    def _reply_all(self, client, replies: list[bytes]) -> None:
        """Hold ``replies`` until the batch is served (and the store flushed)."""
        self._held.extend((client, reply) for reply in replies)

    def _get(self, client, request: Request) -> None:
        transaction = self._transactions.get(client.id)
        if transaction is None:
            super()._on_requests(client, [request])  # partA's Get
            return
        prefix = request.key.encode() + b":"
        for value in transaction.get(self._store, request.key):
            self._reply(client, prefix + value + b"\n")

    def _change(self, client, request: Request) -> None:
        transaction = self._transactions.get(client.id)
        if transaction is None:
            super()._on_requests(client, [request])  # partA's Put, Delete, Update
            self._changed(client, [_change_of(request)])
        else:
            self._change_in_transaction(transaction, _change_of(request))

    def _change_in_transaction(self, transaction: Transaction, change: Change) -> None:
        transaction.change(self._store, change)

    def _changed(self, client, changes: list[Change]) -> None:
        """``client`` has made ``changes`` in the store: tell everyone concerned."""
        self._dirty = True
        for change in changes:
            line = NOTIFICATION % (change.op.encode(), change.key.encode()) + b"\n"
            for subscriber in self._subscribers - {client.id}:
                self._notify(self._clients[subscriber], line)
            for owner, transaction in self._transactions.items():
                if owner != client.id:
                    transaction.on_change(change.key)

    def _notify(self, subscriber, line: bytes) -> None:
        """Queue a notification: it is a reply like any other, dropped if full."""
        self._reply(subscriber, line)

    def _list(self, client, _: Request) -> None:
        transaction = self._transactions.get(client.id)
        if transaction is None:
            contents = self._store.dump()
        else:
            contents = transaction.list(self._store)
        lines = [
            key.encode() + b":" + value + b"\n"
            for key in sorted(contents)
            for value in contents[key]
        ]
        self._reply(client, b"".join(lines) + LIST_END + b"\n")  # one outbox entry

    def _subscribe(self, client, _: Request) -> None:
        self._subscribers.add(client.id)
        self._reply(client, b"Subscribed\n")

    def _unsubscribe(self, client, _: Request) -> None:
        self._subscribers.discard(client.id)
        self._reply(client, b"Unsubscribed\n")

    def _begin(self, client, _: Request) -> None:
        if client.id in self._transactions:
            self._reply(client, b"Error:a transaction is open already\n")
        else:
            self._transactions[client.id] = Transaction()
            self._reply(client, b"Begun\n")

    def _commit(self, client, _: Request) -> None:
        transaction = self._transactions.pop(client.id, None)
        if transaction is None:
            self._reply(client, b"Error:no transaction to commit\n")
        elif reason := self._conflict(transaction):
            self._reply(client, b"Aborted:" + reason.encode() + b"\n")
        elif not self._apply(transaction.changes):
            self._reply(client, b"Aborted:the store failed to apply it\n")
        else:
            self._changed(client, transaction.changes)
            self._reply(client, b"Committed\n")

    def _conflict(self, transaction: Transaction) -> str | None:
        return transaction.conflict()

    def _apply(self, changes: list[Change]) -> bool:
        """Apply ``changes`` atomically; False if the store failed (and kept none)."""
        if not changes:
            return True
        try:
            self._store.apply(changes)
        except Exception:
            log.exception("the store failed to apply a transaction")
            return False
        return True

    def _rollback(self, client, _: Request) -> None:
        if self._transactions.pop(client.id, None) is None:
            self._reply(client, b"Error:no transaction to roll back\n")
        else:
            self._reply(client, b"RolledBack\n")

    def _ping(self, client, _: Request) -> None:
        self._reply(client, b"Pong\n")

    def _bad(self, client, request: Request) -> None:
        log.warning("client %d: %s", client.id, request.key)
        self._reply(client, b"Error:" + request.key.encode() + b"\n")

    def _on_left(self, client, data: None) -> None:
        """A client that leaves loses its subscription and its open transaction."""
        self._subscribers.discard(client.id)
        self._transactions.pop(client.id, None)
        super()._on_left(client, data)

    # END SOLUTION
