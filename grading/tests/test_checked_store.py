"""The checked store reports two threads that use it alike on every run.

A store race is two calls from two threads with no message between them,
which every run that makes the calls finds. Whether the calls also
overlapped depends on timing; saying that too made the same bug read
differently from run to run, and count as two problems in the run's summary
(seen once, on a loaded machine, in test_four_mistakes).
"""

from __future__ import annotations

import _thread
import threading
import time

from partA.framework import harness, ownership


class SlowPut:
    """A store whose put waits until told to go on, so that a second call
    can come in while the first is inside. It signals with raw locks, which
    carry no message between the threads (a ``threading.Event`` would)."""

    def __init__(self) -> None:
        self.inside = _thread.allocate_lock()  # released once put is inside
        self.go_on = _thread.allocate_lock()  # released to let put return
        self.inside.acquire()
        self.go_on.acquire()

    def put(self, key: str, value: bytes) -> None:
        self.inside.release()
        self.go_on.acquire(timeout=5)

    def get(self, key: str) -> list[bytes]:
        return []


def use(store: harness.CheckedStore, method: str) -> None:
    """One call of the store (from one place, so that both runs name it alike)."""
    if method == "put":
        store.put("key", b"value")
    else:
        store.get("key")


def race(overlap: bool) -> str:
    """What the checked store says of reader-1's put and reader-2's get, with
    no message between them; inside at once if ``overlap``."""
    store = harness.CheckedStore()
    slow = store._store = SlowPut()
    watch = ownership.Watch()
    watch.begin()
    store.watch = watch
    first = threading.Thread(target=use, args=(store, "put"), name="reader-1")
    second = threading.Thread(target=use, args=(store, "get"), name="reader-2")
    try:
        first.start()
        slow.inside.acquire(timeout=5)
        if not overlap:
            slow.go_on.release()
            while first.is_alive():  # the test's thread asking: no message
                time.sleep(0.001)
        second.start()
        while second.is_alive():
            time.sleep(0.001)
        if overlap:
            slow.go_on.release()
    finally:
        first.join()
        second.join()
        watch.stop()
    return "; ".join(store.races_said())


def test_a_store_race_reads_the_same_whether_or_not_the_calls_overlapped() -> None:
    apart, at_once = race(overlap=False), race(overlap=True)
    assert "a reader thread called the store (get()" in apart, apart
    assert "after another reader thread did (put()" in apart, apart
    assert at_once == apart
