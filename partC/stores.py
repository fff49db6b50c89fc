"""Durable stores for partC: SQLite (the default, standard library only) and
PostgreSQL (optional, with psycopg 3), and ``make_store`` to pick one by name.

Theory of operation
-------------------
Both stores keep one row per stored value, ``(id, key, value)``, in one table.
``id`` grows with every insert, so a key's list is its rows in ``id`` order:
``put`` inserts a row, ``delete`` removes the key's rows, and ``update``
removes the key's first row equal to ``old`` (if any) and inserts ``new``,
which lands at the end because its ``id`` is the largest. That is exactly
``InMemoryKVStore``'s semantics, and nothing is ever rewritten in place.
Keys are stored as their UTF-8 bytes (a ``BLOB`` / ``bytea``): byte order is
code point order, so ``ORDER BY key`` sorts like Python sorts ``str``, and a
key may hold any character, even NUL, which PostgreSQL's ``text`` refuses.

Durability is **group commit**. The store always has one transaction open
once something has changed; single calls (``put``, ``delete``, ``update``)
and ``apply`` add to it, and ``flush()`` commits it. A crash loses exactly
the changes made since the last ``flush()``, all of them, and never part of
one. partC's server calls ``flush()`` before it sends any reply that follows
a change, which makes a change durable once any later reply on its
connection has gone out, at the cost of one commit per batch of requests
rather than one per request.

* ``apply(changes)`` runs inside a savepoint of the open transaction: if any
  change fails, the savepoint is rolled back and the store is as it was
  before the call (earlier, unflushed changes stay pending); if it succeeds,
  the batch commits with the rest at the next ``flush()``, all or nothing.
* SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns once
  the write-ahead log is synced to disk, so a flushed change survives a
  power cut, not only a crash of the process.
* PostgreSQL commits with the server's ``synchronous_commit`` setting (on by
  default): a commit returns once the server has flushed its WAL.
* ``close()`` commits what is pending, so a clean stop loses nothing.
* A server that never calls ``flush()`` (partA's, under srunner) gets the
  store wrapped in ``CommitEachChange``: each change commits as it is made.
  SQLite then runs with ``synchronous=NORMAL``: in WAL mode a commit is in
  the log file when it returns, so it survives a killed process, and the log
  is synced to disk at checkpoints, not at every commit (a power cut may
  lose the last changes, never part of one).

Threads: like ``InMemoryKVStore``, no store here is thread-safe, and there is
no locking. One thread, the server's coordinator, makes every call (a SQLite
connection is even bound to the thread that opened it, so open the store on
that thread or pass ``check_same_thread=False`` yourself; SQLiteKVStore does
the latter and relies on the one-caller rule).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from partC.store import Change, DurableKVStore, MemoryStore, apply_change

STORE_SPECS = "memory, sqlite:PATH or postgres:DSN"
"""What ``make_store`` accepts, for messages and ``--help``."""


class BadStoreSpec(ValueError):
    """A store spec that ``make_store`` cannot understand; its text says why."""


def make_store(spec: str, each_change: bool = False) -> DurableKVStore:
    """Build the store that ``spec`` names; with ``each_change``, one that
    commits each change as it is made (see ``CommitEachChange``).

    * ``memory``: a ``MemoryStore`` (nothing durable);
    * ``sqlite:PATH``: a ``SQLiteKVStore`` in the file PATH (created if new);
    * ``postgres:DSN``: a ``PostgresKVStore``; DSN is a libpq connection
      string or URI, such as ``host=127.0.0.1 port=5432 dbname=kv`` or
      ``postgresql://user@localhost/kv``.

    Raises:
        BadStoreSpec: ``spec`` is none of these (checked before anything is
            opened).
        sqlite3.Error, psycopg.Error, ImportError: the store cannot be opened.
    """
    kind, argument = parse_store_spec(spec)
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        store = SQLiteKVStore(argument, "NORMAL" if each_change else "FULL")
    else:
        store = PostgresKVStore(argument)
    return CommitEachChange(store) if each_change else store


class CommitEachChange(DurableKVStore):
    """A durable store that commits each change as it is made, for a server
    that never calls ``flush()``: a change it has made survives a killed
    process. ``apply`` commits its whole batch at once."""

    def __init__(self, store: DurableKVStore) -> None:
        self.store = store

    def put(self, key: str, value: bytes) -> None:
        self.store.put(key, value)
        self.store.flush()

    def get(self, key: str) -> list[bytes]:
        return self.store.get(key)

    def delete(self, key: str) -> None:
        self.store.delete(key)
        self.store.flush()

    def update(self, key: str, old: bytes, new: bytes) -> None:
        self.store.update(key, old, new)
        self.store.flush()

    def apply(self, changes: list[Change]) -> None:
        self.store.apply(changes)
        self.store.flush()

    def flush(self) -> None:
        self.store.flush()

    def dump(self) -> dict[str, list[bytes]]:
        return self.store.dump()

    def keys(self) -> list[str]:
        return self.store.keys()

    def close(self) -> None:
        self.store.close()


def parse_store_spec(spec: str) -> tuple[str, str]:
    """Split ``spec`` into (kind, argument); see ``make_store``.

    Raises:
        BadStoreSpec: the kind is unknown, or its argument is missing or extra.
    """
    kind, colon, argument = spec.partition(":")
    if kind == "memory" and not colon:
        return kind, ""
    if kind in ("sqlite", "postgres") and argument:
        return kind, argument
    if kind in ("memory", "sqlite", "postgres"):
        needs = "no argument" if kind == "memory" else "something after the colon"
        raise BadStoreSpec(f"store {spec!r}: {kind} takes {needs}; use {STORE_SPECS}")
    raise BadStoreSpec(f"unknown store {spec!r}; use {STORE_SPECS}")


# ----- SQLite ------------------------------------------------------------------

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,  -- the rowid: one more than the largest in use
    key BLOB NOT NULL,       -- the key's UTF-8 bytes
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_id ON kv (key, id);
"""


class SQLiteKVStore(DurableKVStore):
    """A durable store in one SQLite file (WAL mode, ``synchronous=FULL`` by
    default: see the module notes for ``NORMAL``).

    ``id`` is SQLite's rowid without ``AUTOINCREMENT``: a new row gets one
    more than the largest id in the table, so it always sorts after every row
    still there, which is all the list order needs.

    Not thread-safe: one thread makes every call (see the module notes).
    """

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        """Open (or create) the store in the file ``path``; ``synchronous`` is
        SQLite's setting of that name, ``FULL`` or ``NORMAL``.

        Raises:
            sqlite3.Error: the file cannot be opened or is not a database.
        """
        self.path = Path(path)
        # isolation_level=None: no implicit transactions; this class opens and
        # commits its own, so it decides exactly where the commits are.
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False
        )
        self._closed = False
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            if synchronous not in ("FULL", "NORMAL"):
                raise ValueError(f"synchronous must be FULL or NORMAL: {synchronous!r}")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SQLITE_SCHEMA)
        except sqlite3.Error:
            self._db.close()
            raise

    def put(self, key: str, value: bytes) -> None:
        self._begin()
        self._insert(key, value)

    def get(self, key: str) -> list[bytes]:
        rows = self._db.execute(
            "SELECT value FROM kv WHERE key = ? ORDER BY id", (_key(key),)
        )
        return [bytes(value) for (value,) in rows]

    def delete(self, key: str) -> None:
        self._begin()
        self._db.execute("DELETE FROM kv WHERE key = ?", (_key(key),))

    def update(self, key: str, old: bytes, new: bytes) -> None:
        self._begin()
        self._db.execute(
            "DELETE FROM kv WHERE id = (SELECT id FROM kv WHERE key = ? AND value = ?"
            " ORDER BY id LIMIT 1)",
            (_key(key), old),
        )
        self._insert(key, new)

    def apply(self, changes: list[Change]) -> None:
        """Make all of ``changes`` or, if one fails, none (then re-raise)."""
        self._begin()  # a SAVEPOINT outside a transaction would commit at RELEASE
        _apply_in_savepoint(self, self._db.execute, changes)

    def flush(self) -> None:
        """Commit every change so far; it then survives a crash or power cut."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def dump(self) -> dict[str, list[bytes]]:
        rows = self._db.execute("SELECT key, value FROM kv ORDER BY key, id")
        return _group(rows)

    def keys(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT key FROM kv ORDER BY key")
        return [bytes(key).decode() for (key,) in rows]

    def close(self) -> None:
        """Commit what is pending and close the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self._db.close()

    def _begin(self) -> None:
        """Open the group-commit transaction if none is open."""
        if not self._db.in_transaction:
            self._db.execute("BEGIN")

    def _insert(self, key: str, value: bytes) -> None:
        self._db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)", (_key(key), value)
        )


# ----- PostgreSQL ----------------------------------------------------------------

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresKVStore(DurableKVStore):
    """A durable store in a PostgreSQL table (psycopg 3).

    ``id`` comes from an identity column (a sequence). Only this store
    inserts, from one thread, so a new row's id is larger than every id in
    the table; numbers a rolled-back insert took leave gaps, which the order
    does not mind. Run one store per table: two servers on one table would
    interleave their lists.

    Not thread-safe: one thread makes every call (see the module notes).
    """

    def __init__(self, dsn: str, table: str = "kv") -> None:
        """Connect to ``dsn`` and create ``table`` there if it is new.

        Raises:
            ImportError: psycopg is not installed (``pip install
                "psycopg[binary]"``).
            ValueError: ``table`` is not a plain lower-case SQL name.
            psycopg.Error: the server cannot be reached, or refuses.
        """
        if not _TABLE_NAME.fullmatch(table):
            raise ValueError(f"table name {table!r}: use lower case, digits and _")
        psycopg = _import_psycopg()
        self.table = table
        self._sql = _postgres_statements(table)
        # autocommit off: psycopg opens a transaction at the first statement
        # and keeps it open until commit(), which is the group commit we want.
        self._db = psycopg.connect(dsn, autocommit=False)
        self._closed = False
        try:
            self._db.execute(self._sql["schema"])
            self._db.execute(self._sql["index"])
            self._db.commit()
        except psycopg.Error:
            self._db.close()
            raise

    def put(self, key: str, value: bytes) -> None:
        self._db.execute(self._sql["insert"], (_key(key), value))

    def get(self, key: str) -> list[bytes]:
        rows = self._db.execute(self._sql["get"], (_key(key),))
        return [bytes(value) for (value,) in rows]

    def delete(self, key: str) -> None:
        self._db.execute(self._sql["delete"], (_key(key),))

    def update(self, key: str, old: bytes, new: bytes) -> None:
        self._db.execute(self._sql["remove_first"], (_key(key), old))
        self._db.execute(self._sql["insert"], (_key(key), new))

    def apply(self, changes: list[Change]) -> None:
        """Make all of ``changes`` or, if one fails, none (then re-raise)."""
        # psycopg opens the group-commit transaction before the SAVEPOINT.
        _apply_in_savepoint(self, self._db.execute, changes)

    def flush(self) -> None:
        """Commit every change so far; the server has it on disk on return."""
        self._db.commit()

    def dump(self) -> dict[str, list[bytes]]:
        return _group(self._db.execute(self._sql["dump"]))

    def keys(self) -> list[str]:
        rows = self._db.execute(self._sql["keys"])
        return [bytes(key).decode() for (key,) in rows]

    def close(self) -> None:
        """Commit what is pending and disconnect. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._db.closed:
                self._db.commit()
        finally:
            self._db.close()


def _postgres_statements(table: str) -> dict[str, str]:
    """The SQL this store runs, for ``table`` (a name checked by the caller)."""
    return {
        "schema": f"CREATE TABLE IF NOT EXISTS {table} ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " key bytea NOT NULL, value bytea NOT NULL)",
        "index": f"CREATE INDEX IF NOT EXISTS {table}_key_id ON {table} (key, id)",
        "insert": f"INSERT INTO {table} (key, value) VALUES (%s, %s)",
        "get": f"SELECT value FROM {table} WHERE key = %s ORDER BY id",
        "delete": f"DELETE FROM {table} WHERE key = %s",
        "remove_first": f"DELETE FROM {table} WHERE id = (SELECT id FROM {table}"
        " WHERE key = %s AND value = %s ORDER BY id LIMIT 1)",
        "dump": f"SELECT key, value FROM {table} ORDER BY key, id",
        "keys": f"SELECT DISTINCT key FROM {table} ORDER BY key",
    }


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as error:
        raise ImportError(
            'the PostgreSQL store needs psycopg 3: pip install "psycopg[binary]"'
        ) from error
    return psycopg


# ----- shared helpers ------------------------------------------------------------


def _key(key: str) -> bytes:
    """A key as it is stored: its UTF-8 bytes."""
    return key.encode("utf-8")


def _apply_in_savepoint(
    store: DurableKVStore, execute: Callable[[str], object], changes: list[Change]
) -> None:
    """Make ``changes`` inside a savepoint of the open transaction.

    If one fails, roll back to the savepoint, which undoes the batch and
    nothing before it, and re-raise. Either way the savepoint is released and
    the open transaction goes on.
    """
    execute("SAVEPOINT apply")
    try:
        for change in changes:
            apply_change(store, change)
    except BaseException:
        execute("ROLLBACK TO SAVEPOINT apply")
        raise
    finally:
        execute("RELEASE SAVEPOINT apply")


def _group(rows: Iterable[tuple[Any, Any]]) -> dict[str, list[bytes]]:
    """Rows of (key bytes, value), sorted by key then id, as ``dump`` returns."""
    data: dict[str, list[bytes]] = {}
    for key, value in rows:
        data.setdefault(bytes(key).decode(), []).append(bytes(value))
    return data
