"""Deliberately broken partC servers: each is the reference with one bug.

Instructor-only (never in the student handout). The partC suites must fail on
every one of them, for the reason given in ``CAUGHT_BY``;
``test_partc_mutants.py`` checks that. As in ``server_mutants.py``, each
mutant overrides one or two small methods of the reference, so that what
differs is easy to see.
"""

from __future__ import annotations

import queue

from partC.server import KeyValueServer, Transaction
from partC.store import Change, apply_change

MID_COMMIT_WAIT = 1.0  # seconds NonAtomicCommit waits for a request to serve


class NonAtomicCommit(KeyValueServer):
    """Applies a transaction's changes one by one, and serves another request
    halfway: a client can see half a transaction.

    The request served halfway is the next one on the inbox (waiting for it
    up to ``MID_COMMIT_WAIT``), so a client that polls while a Commit is
    served sees the half-applied state every time, not by luck of timing.
    """

    def _apply(self, changes: list[Change]) -> bool:
        half = len(changes) // 2
        for change in changes[:half]:
            apply_change(self._store, change)
        if half:
            self._serve_one_more_message()
        for change in changes[half:]:
            apply_change(self._store, change)
        return True

    def _serve_one_more_message(self) -> None:
        try:
            kind, client, data = self._inbox.get(timeout=MID_COMMIT_WAIT)
        except queue.Empty:
            return
        held, dirty = self._held, self._dirty  # the Commit's batch, under way
        self._handlers[kind](client, data)
        self._held, self._dirty = held + self._held, dirty or self._dirty


class BlockingNotifications(KeyValueServer):
    """Waits for room in a subscriber's full outbox: one slow subscriber
    stalls the coordinator, and so every client.

    Only the wait is wrong: while the coordinator has the send side, the
    notification is sent as the reference sends it, so that it never passes
    a reply sent after it (which a suite would report as another bug, on
    some runs and not others)."""

    def _notify(self, subscriber, line: bytes) -> None:
        if subscriber.sends_now:
            self._reply(subscriber, line)  # sent at once, in order, as it should be
        else:
            subscriber.outbox.put(line)  # the bug: waits for room in a full outbox


class VisibleBeforeCommit(KeyValueServer):
    """Writes a transaction's changes to the store at once; Commit has
    nothing left to do (and Rollback cannot undo them)."""

    def _change_in_transaction(self, transaction: Transaction, change: Change) -> None:
        apply_change(self._store, change)
        self._dirty = True

    def _apply(self, changes: list[Change]) -> bool:
        return True  # already in the store


class NeverDetectsConflicts(KeyValueServer):
    """Commits every transaction: stale reads go unnoticed (lost updates)."""

    def _conflict(self, transaction: Transaction) -> str | None:
        return None


class ChecksWritesNotReads(KeyValueServer):
    """Aborts only when another client changed a key this transaction
    writes, not one it read: write skew goes through."""

    def _conflict(self, transaction: Transaction) -> str | None:
        written = {change.key for change in transaction.changes}
        if stale := sorted(transaction.stale & written):
            return f"key {stale[0]} was changed by another client"
        return None


class NotifiesItself(KeyValueServer):
    """Sends a subscriber notifications of its own changes too."""

    def _changed(self, client, changes: list[Change]) -> None:
        super()._changed(client, changes)
        if client.id in self._subscribers:
            for change in changes:
                line = b"Changed:%s:%s\n" % (change.op.encode(), change.key.encode())
                self._notify(client, line)


class FlushesLate(KeyValueServer):
    """Flushes a batch's changes when the next batch comes: its replies have
    gone out before its changes were durable, so a crash can lose a change
    the client was told about."""

    _flush_due = False

    def _flush(self) -> None:
        self._flush_due = True

    def _on_requests(self, client, requests) -> None:
        if self._flush_due:
            self._flush_due = False
            self._store.flush()
        super()._on_requests(client, requests)


# Which suite must catch each mutant, and a phrase its failure message holds.
CAUGHT_BY = {
    "NonAtomicCommit": ("test_transactions.py", "a half-applied Commit"),
    "BlockingNotifications": ("test_notifications.py", "while a subscriber was not"),
    "VisibleBeforeCommit": ("test_transactions.py", "visible to another client"),
    "NeverDetectsConflicts": ("test_serial_model.py", "no serial order"),
    "ChecksWritesNotReads": ("test_serial_model.py", "no serial order"),
    "NotifiesItself": ("test_notifications.py", "never of its own changes"),
    "FlushesLate": ("test_classic.py", "call store.flush() before"),
}
