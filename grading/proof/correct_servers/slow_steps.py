"""The reference on a very slow machine: every store call takes 20 ms.

Correct, and so slow that a reply can take many times the suites' reply
limit (with ``KV_REPLY_TIMEOUT`` at a fraction of a second), while the
server never stops working: ``grading/tests/test_patience.py`` shows the suites
wait for it and pass it, where a server that stops fails at the limit.
"""

from __future__ import annotations

import time

import partA.server
from partA.kvstore import KVStore

STEP_SECONDS = 0.02


class _SlowStore(KVStore):
    """The server's store, with a pause before each call."""

    def __init__(self, store: KVStore) -> None:
        self._store = store

    def put(self, key: str, value: bytes) -> None:
        time.sleep(STEP_SECONDS)
        self._store.put(key, value)

    def get(self, key: str) -> list[bytes]:
        time.sleep(STEP_SECONDS)
        return self._store.get(key)

    def delete(self, key: str) -> None:
        time.sleep(STEP_SECONDS)
        self._store.delete(key)

    def update(self, key: str, old: bytes, new: bytes) -> None:
        time.sleep(STEP_SECONDS)
        self._store.update(key, old, new)


class KeyValueServer(partA.server.KeyValueServer):
    def __init__(self, store: KVStore) -> None:
        super().__init__(_SlowStore(store))
