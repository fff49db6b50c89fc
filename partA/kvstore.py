"""The key-value store behind the server (given to students, complete).

A key names a list of values. ``put`` appends to the list, ``get`` reads it,
``delete`` removes the key, and ``update`` replaces one value by moving the new
one to the end of the list.

``InMemoryKVStore`` is **not thread-safe, on purpose**. Two threads calling it
at once can corrupt its lists or lose updates. Your server must make sure that
only one thread ever touches the store: the store's owner, to which every other
thread sends messages.
"""

from __future__ import annotations

import abc


class KVStore(abc.ABC):
    """What the server needs from a store.

    Keys are ``str``; values are ``bytes``. No method is required to be
    thread-safe, and none blocks.
    """

    @abc.abstractmethod
    def put(self, key: str, value: bytes) -> None:
        """Append ``value`` to the end of the list stored under ``key``."""

    @abc.abstractmethod
    def get(self, key: str) -> list[bytes]:
        """Return a new list of the values under ``key``, in order.

        Returns an empty list if the key is absent. Changing the returned list
        does not change the store.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` and all its values. Does nothing if it is absent."""

    @abc.abstractmethod
    def update(self, key: str, old: bytes, new: bytes) -> None:
        """Replace ``old`` by ``new`` under ``key``.

        * Key absent: the key now holds ``[new]``.
        * ``old`` found (the first value equal to it): that value is removed
          and ``new`` is appended at the end of the list.
        * ``old`` not found: ``new`` is appended at the end of the list.
        """


class InMemoryKVStore(KVStore):
    """A ``KVStore`` in a dict of lists. Not thread-safe (see the module doc)."""

    def __init__(self) -> None:
        self._data: dict[str, list[bytes]] = {}

    def put(self, key: str, value: bytes) -> None:
        self._data.setdefault(key, []).append(value)

    def get(self, key: str) -> list[bytes]:
        return list(self._data.get(key, ()))

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def update(self, key: str, old: bytes, new: bytes) -> None:
        values = self._data.setdefault(key, [])
        if old in values:
            values.remove(old)  # removes the first equal value only
        values.append(new)

    def dump(self) -> dict[str, list[bytes]]:
        """Return a copy of everything stored: for tests and tools only.

        Not part of ``KVStore``. Like every other method, call it only when no
        other thread can be using the store (for example after ``close()``).
        """
        return {key: list(values) for key, values in self._data.items()}
