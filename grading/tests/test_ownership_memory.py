"""What the ownership checker records does not outlive the watch that
recorded it (issue 24: bounded memory under ``--stress``).

A lock, an Event or a queue that outlives a test (a library's, made while a
watch was on) keeps the clocks merged into it, and a clock names threads:
hypothesis's lock kept every server thread of every repetition of a test,
40 MB more each time. Once the watch stops, a thread nothing else holds
must be free to go.
"""

from __future__ import annotations

import gc
import queue
import threading
import weakref

from partA.framework import harness, ownership  # noqa: F401 (installs the checker)


def _used_and_ended(
    lock: object, event: threading.Event, box: queue.Queue
) -> weakref.ref:
    """A thread that releases ``lock``, sets ``event`` and puts on ``box``, ended."""

    def work() -> None:
        with lock:
            pass
        event.set()
        box.put(1)

    thread = threading.Thread(target=work, name="worker-1")
    thread.start()
    thread.join()
    return weakref.ref(thread)


def test_a_thread_is_not_kept_by_the_locks_events_and_queues_it_used() -> None:
    lock = threading.Lock()  # made here, outside the standard library: clocked
    assert type(lock).__module__ == ownership.__name__, "the checker is off"
    event, box = threading.Event(), queue.Queue()
    watch = ownership.Watch()
    watch.begin()
    gone = _used_and_ended(lock, event, box)
    box.get()
    assert lock.__dict__.get("_kv_releases"), "the release carried no clock"
    watch.stop()
    watch = None  # it lists the threads it saw start
    gc.collect()
    assert gone() is None, (
        "a thread of a finished watch is still held: by "
        + ", ".join(type(r).__qualname__ for r in gc.get_referrers(gone()))
    )
    assert "_kv_releases" not in lock.__dict__
    assert "_kv_sets" not in event.__dict__
