"""The store contract, checked on every store: MemoryStore, SQLite, PostgreSQL.

Each contract test runs once per store kind. ``InMemoryKVStore`` is the
model: whatever a store returns must be what the model returns after the
same calls, which hypothesis checks over random sequences of calls. The
durable stores must also keep everything across a restart, make ``apply``
all or nothing when a change fails midway, and keep exactly what was
flushed when their process is killed (SIGKILL) before the next flush.

PostgreSQL: the session starts a throwaway server of its own (see
``partC/framework/pgcluster.py``), or uses the one ``KV_POSTGRES_DSN`` names. Its
tests are skipped, with the missing piece named, where psycopg or the
PostgreSQL server programs are missing (``apt-get install postgresql``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partA.kvstore import InMemoryKVStore
from partC.framework.pgcluster import postgres_for_tests
from partC.store import Change, DurableKVStore, MemoryStore, apply_change
from partC.stores import (
    STORE_SPECS,
    BadStoreSpec,
    PostgresKVStore,
    SQLiteKVStore,
    make_store,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
KINDS = ["memory", "sqlite", "postgres"]
DURABLE_KINDS = ["sqlite", "postgres"]
CHILD_TIMEOUT = 60.0  # seconds for a child process that writes and dies


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for this session: ``KV_POSTGRES_DSN``, or our own."""
    yield from postgres_for_tests()


class Backend:
    """Opens stores of one kind, each in a place (file, table) of its own.

    ``fresh()`` opens a store in a new, empty place; ``reopen(store)`` closes
    ``store`` and opens its place again, as a restarted server would.
    ``cleanup()`` closes every store and drops every table it made.
    """

    _numbers = itertools.count(1)

    def __init__(self, kind: str, tmp_path: Path, dsn: str = "") -> None:
        self.kind = kind
        self.durable = kind != "memory"
        self._tmp_path = tmp_path
        self.dsn = dsn
        self._places: dict[int, str] = {}  # id(store) -> its file or table
        self._opened: list[DurableKVStore] = []

    def fresh(self) -> DurableKVStore:
        number = next(self._numbers)
        if self.kind == "sqlite":
            return self.open(str(self._tmp_path / f"store{number}.db"))
        return self.open(f"kv_test_{os.getpid()}_{number}")

    def open(self, place: str) -> DurableKVStore:
        """Open the store in ``place`` (a file for SQLite, a table for Postgres)."""
        if self.kind == "memory":
            store: DurableKVStore = MemoryStore()
        elif self.kind == "sqlite":
            store = SQLiteKVStore(place)
        else:
            store = PostgresKVStore(self.dsn, table=place)
        self._places[id(store)] = place
        self._opened.append(store)
        return store

    def place(self, store: DurableKVStore) -> str:
        return self._places[id(store)]

    def reopen(self, store: DurableKVStore) -> DurableKVStore:
        assert self.durable, "a MemoryStore keeps nothing to reopen"
        store.close()
        return self.open(self.place(store))

    def close_all(self) -> None:
        """Close every store opened so far (closing twice is fine)."""
        for store in self._opened:
            store.close()
        self._opened.clear()

    def cleanup(self) -> None:
        self.close_all()
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True) as admin:
                for table in set(self._places.values()):
                    admin.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request, tmp_path)


@pytest.fixture(params=DURABLE_KINDS)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request, tmp_path)


def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = request.param
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else ""
    backend = Backend(kind, tmp_path, dsn)
    yield backend
    backend.cleanup()


@pytest.fixture
def store(backend: Backend) -> DurableKVStore:
    return backend.fresh()


def model_after(changes: list[Change]) -> InMemoryKVStore:
    model = InMemoryKVStore()
    for change in changes:
        apply_change(model, change)
    return model


def assert_same(store: DurableKVStore, model: InMemoryKVStore, when: str) -> None:
    expected = model.dump()
    found = store.dump()
    assert found == expected, f"{when}: the store holds {found}, expected {expected}"
    assert store.keys() == sorted(expected), f"{when}: keys() is not sorted keys"


# ----- the contract, on every kind ---------------------------------------------


def test_put_appends_in_order_and_get_reads_them(store: DurableKVStore) -> None:
    for value in (b"1", b"2", b"1"):
        store.put("k", value)
    assert store.get("k") == [b"1", b"2", b"1"]
    assert store.get("absent") == [], "an absent key should read as an empty list"


def test_get_returns_a_new_list(store: DurableKVStore) -> None:
    store.put("k", b"v")
    store.get("k").append(b"x")
    assert store.get("k") == [b"v"], "changing get's list changed the store"


def test_delete_removes_every_value(store: DurableKVStore) -> None:
    store.put("k", b"1")
    store.put("k", b"2")
    store.put("other", b"3")
    store.delete("k")
    store.delete("never")  # absent: nothing happens
    assert store.get("k") == []
    assert store.dump() == {"other": [b"3"]}


@pytest.mark.parametrize(
    ("before", "old", "after"),
    [
        ([], b"x", [b"new"]),  # key absent: [new]
        ([b"a", b"x", b"b"], b"x", [b"a", b"b", b"new"]),  # found: moved to the end
        ([b"x", b"a", b"x"], b"x", [b"a", b"x", b"new"]),  # only the first equal
        ([b"a", b"b"], b"x", [b"a", b"b", b"new"]),  # not found: appended
        ([b"new"], b"new", [b"new"]),  # old == new
    ],
    ids=["absent", "found", "first-only", "not-found", "same"],
)
def test_update_as_partA(
    store: DurableKVStore, before: list[bytes], old: bytes, after: list[bytes]
) -> None:
    for value in before:
        store.put("k", value)
    store.update("k", old, b"new")
    assert store.get("k") == after, f"update of {before} by {old!r}"


def test_any_key_and_value_round_trip(store: DurableKVStore) -> None:
    values = [b"", b"\x00\xff", bytes(range(256)), b"v" * 65536]
    keys = ["k", "ключ", "🙂", "with\x00nul", "Mixed Case"]
    for key in keys:
        for value in values:
            store.put(key, value)
    assert all(store.get(key) == values for key in keys)
    assert store.keys() == sorted(keys)


def test_apply_makes_every_change_in_order(store: DurableKVStore) -> None:
    changes = [
        Change("put", "a", b"1"),
        Change("put", "a", b"2"),
        Change("update", "a", b"1", b"3"),
        Change("put", "b", b"x"),
        Change("delete", "b"),
        Change("update", "c", b"?", b"new"),
    ]
    store.apply(changes)
    store.apply([])
    assert_same(store, model_after(changes), "after apply")


def test_flush_and_close_are_safe_to_repeat(store: DurableKVStore) -> None:
    store.flush()
    store.put("k", b"v")
    store.flush()
    store.flush()
    store.close()
    store.close()


# ----- the model, over random sequences of calls --------------------------------

keys = st.sampled_from(["a", "b", "ключ", "k\x00"]) | st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=4
)
values = st.sampled_from([b"", b"x", b"y", b"\x00\xff"]) | st.binary(max_size=6)
changes = st.one_of(
    st.builds(Change, st.just("put"), keys, values),
    st.builds(Change, st.just("delete"), keys),
    st.builds(Change, st.just("update"), keys, values, values),
)
calls = st.lists(
    changes
    | st.tuples(st.just("get"), keys)
    | st.tuples(st.just("apply"), st.lists(changes, max_size=5))
    | st.sampled_from([("flush",), ("reopen",)]),
    max_size=30,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(calls=calls)
def test_matches_the_model(backend: Backend, calls: list) -> None:
    store, model = backend.fresh(), InMemoryKVStore()
    try:
        run_calls(backend, store, model, calls)
    finally:
        backend.close_all()  # example after example: do not pile up connections


def run_calls(
    backend: Backend, store: DurableKVStore, model: InMemoryKVStore, calls: list
) -> None:
    """Make ``calls`` on ``store`` and ``model``; compare what they return."""
    for step, call in enumerate(calls, 1):
        if isinstance(call, Change):
            apply_change(store, call)
            apply_change(model, call)
        elif call[0] == "get":
            found = store.get(call[1])
            assert found == model.get(call[1]), f"step {step}: get({call[1]!r})"
        elif call[0] == "apply":
            store.apply(call[1])
            for change in call[1]:
                apply_change(model, change)
        elif call[0] == "flush":
            store.flush()
        elif backend.durable:  # reopen: a clean restart keeps everything
            store = backend.reopen(store)
    assert_same(store, model, f"after {len(calls)} calls")


# ----- durable stores: restart, atomic apply, flush ----------------------------


def test_restart_reloads_everything(durable: Backend) -> None:
    store = durable.fresh()
    changes = [Change("put", f"key{n % 37}", b"%d" % n) for n in range(500)]
    changes += [Change("update", f"key{n}", b"%d" % n, b"moved") for n in range(20)]
    changes += [Change("delete", f"key{n}") for n in range(30, 37)]
    for change in changes[:200]:
        apply_change(store, change)
    store.flush()
    store.apply(changes[200:])
    store = durable.reopen(store)  # close() commits what was not flushed yet
    assert_same(store, model_after(changes), "after a restart")
    store.put("key0", b"after")  # and it goes on from there, in order
    assert store.get("key0")[-1] == b"after"


NOT_NULL = None  # a value the database itself refuses (the column is NOT NULL)


@pytest.mark.parametrize(
    "bad_change",
    [Change("bogus", "k"), Change("put", "k", NOT_NULL)],
    ids=["unknown-op", "database-refuses"],
)
def test_a_failed_apply_leaves_nothing(durable: Backend, bad_change: Change) -> None:
    store = durable.fresh()
    store.put("kept", b"flushed")
    store.flush()
    store.put("kept", b"pending")  # not flushed: it must survive the failure too
    before = store.dump()
    batch = [
        Change("put", "k", b"1"),
        Change("update", "kept", b"flushed", b"moved"),
        Change("delete", "kept"),
        bad_change,
        Change("put", "k", b"never"),
    ]
    # Any exception will do: the point is what the store holds afterwards.
    with pytest.raises(Exception) as raised:  # noqa: PT011
        store.apply(batch)
    assert store.dump() == before, (
        f"apply failed with {raised.value!r} but left part of its batch behind"
    )
    store.put("k", b"usable")  # the store goes on after the failure
    store = durable.reopen(store)
    assert store.dump() == {**before, "k": [b"usable"]}


CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
from partC.store import Change
from partC.stores import PostgresKVStore, SQLiteKVStore

kind, place, dsn = sys.argv[1:4]
store = SQLiteKVStore(place) if kind == "sqlite" else PostgresKVStore(dsn, place)
for n in range(100):
    store.put("flushed", b"%d" % n)
store.apply([Change("put", "batch", b"%d" % n) for n in range(50)])
store.update("flushed", b"0", b"last")
store.flush()
for n in range(100):
    store.put("pending", b"%d" % n)
store.apply([Change("put", "pending-batch", b"x"), Change("delete", "batch")])
print("killing myself", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_keeps_exactly_what_was_flushed(durable: Backend) -> None:
    place = durable.place(durable.fresh())
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(REPO_ROOT)), durable.kind]
        + [place, durable.dsn],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert child.returncode == -9, f"the child should die by SIGKILL: {child}"
    store = durable.open(place)
    flushed = [b"%d" % n for n in range(1, 100)] + [b"last"]
    expected = {"batch": [b"%d" % n for n in range(50)], "flushed": flushed}
    found = store.dump()
    assert found == expected, (
        "after SIGKILL the store should hold what was flushed and nothing after:"
        f" expected {expected}, found {found}"
    )


def test_sqlite_uses_wal_and_full_sync(tmp_path: Path) -> None:
    pragmas = ("journal_mode", "synchronous")
    store = SQLiteKVStore(tmp_path / "s.db")
    try:
        modes = [store._db.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas]
    finally:
        store.close()
    assert modes == ["wal", 2], "expected journal_mode=wal, synchronous=FULL (2)"


# ----- make_store ----------------------------------------------------------------


def test_make_store_memory_and_sqlite(tmp_path: Path) -> None:
    assert isinstance(make_store("memory"), MemoryStore)
    path = tmp_path / "made.db"
    store = make_store(f"sqlite:{path}")
    try:
        assert isinstance(store, SQLiteKVStore)
        assert store.path == path
    finally:
        store.close()


def test_make_store_postgres(postgres_dsn: str) -> None:
    store = make_store(f"postgres:{postgres_dsn}")
    try:
        assert isinstance(store, PostgresKVStore)
    finally:
        store.close()


@pytest.mark.parametrize(
    "spec", ["", "mem", "memory:x", "sqlite", "sqlite:", "postgres:", "redis:x"]
)
def test_make_store_rejects_a_bad_spec(spec: str) -> None:
    with pytest.raises(BadStoreSpec) as raised:
        make_store(spec)
    assert repr(spec) in str(raised.value)
    assert STORE_SPECS in str(raised.value), "the message should say what works"


def test_postgres_without_psycopg_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(ImportError, match=r"pip install \"psycopg\[binary\]\""):
        make_store("postgres:host=127.0.0.1")


def test_postgres_refuses_a_table_name_it_would_have_to_quote() -> None:
    with pytest.raises(ValueError, match="table name"):
        PostgresKVStore("host=127.0.0.1", table="kv; DROP TABLE kv")
