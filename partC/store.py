"""The store interface of partC: a ``KVStore`` that can apply many changes at
once and make them durable.

partC's server keeps using the four ``KVStore`` methods for single requests,
and adds two calls:

* ``apply(changes)``: make every change in the list, all or none, as one
  step. ``Commit`` of a transaction uses it.
* ``flush()``: make every change so far durable. The server calls it before
  it sends any reply that follows a change, so that a change is durable once
  the server has sent any later reply on the same connection.

``MemoryStore`` keeps everything in memory (nothing is durable: ``flush``
does nothing); the durable stores (SQLite, PostgreSQL) live in
``partC/stores.py``. Like ``InMemoryKVStore``, no store here is thread-safe:
only the coordinator calls it.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

from partA.kvstore import InMemoryKVStore, KVStore


class Change(NamedTuple):
    """One change to the store: ``op`` is "put", "delete" or "update"."""

    op: str
    key: str
    value: bytes = b""  # put's value; update's old value
    new: bytes = b""  # update's new value


class DurableKVStore(KVStore):
    """A ``KVStore`` with atomic batches and an explicit durability point."""

    @abc.abstractmethod
    def apply(self, changes: list[Change]) -> None:
        """Make all of ``changes``, in order, as one atomic step."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Return once every change made so far survives a crash."""

    @abc.abstractmethod
    def dump(self) -> dict[str, list[bytes]]:
        """A copy of everything stored (for tests and tools)."""

    def keys(self) -> list[str]:
        """Every key, in sorted order."""
        return sorted(self.dump())

    def close(self) -> None:
        """Release what the store holds open. Safe to call twice."""


CHANGE_OPS = ("put", "delete", "update")


def apply_change(store: KVStore, change: Change) -> None:
    """Make one change through the four ``KVStore`` methods."""
    if change.op == "put":
        store.put(change.key, change.value)
    elif change.op == "delete":
        store.delete(change.key)
    elif change.op == "update":
        store.update(change.key, change.value, change.new)
    else:
        raise ValueError(f"unknown change {change.op!r}")


class MemoryStore(InMemoryKVStore, DurableKVStore):
    """Everything in memory: ``apply`` is atomic, ``flush`` has nothing to do."""

    def apply(self, changes: list[Change]) -> None:
        for change in changes:  # check them all first: then none can fail midway
            if change.op not in CHANGE_OPS:
                raise ValueError(f"unknown change {change.op!r}")
        for change in changes:
            apply_change(self, change)

    def flush(self) -> None:
        pass
