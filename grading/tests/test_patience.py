"""The harness waits for a server as long as it works, and no longer.

A wait of the partA suites (``harness.Patience``) ends once the server has
done nothing the harness can see for the wait's limit, or after
``PATIENCE_CAP`` times the limit in all. So a correct server on a slow or
loaded machine is never failed for being slow, and a stuck one fails as
fast as with a fixed deadline.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time

from grading.proof.suite_runs import run_suite
from partA.framework import harness, ownership

LIMIT = 0.3  # seconds


class Busy(threading.Thread):
    """A thread passing a message every 20 ms for ``seconds``, as a server's
    coordinator would while it works through a backlog. ``moves`` keeps when
    it passed each: on a loaded machine a thread can be held up for longer
    than ``LIMIT``, and then the server really was idle that long."""

    def __init__(self, seconds: float, name: str = "server-worker") -> None:
        super().__init__(name=name)
        self.seconds = seconds
        self.moves: list[float] = []  # written by this thread, read once joined

    def run(self) -> None:
        box: queue.Queue[int] = queue.Queue()
        end = time.monotonic() + self.seconds
        while (now := time.monotonic()) < end:
            self.moves.append(now)  # at most this long before the move below
            box.put(1)
            box.get()
            time.sleep(0.02)

    def longest_pause(self, start: float, end: float) -> float:
        """The longest time between ``start`` and ``end`` in which it did not move."""
        times = [start, *(t for t in self.moves if start < t < end), end]
        return max(later - earlier for earlier, later in itertools.pairwise(times))


def busy(seconds: float, name: str = "server-worker") -> Busy:
    thread = Busy(seconds, name)
    thread.start()
    return thread


def test_a_working_server_is_waited_for_past_the_limit() -> None:
    worker = busy(4 * LIMIT)
    patience = harness.Patience(LIMIT)
    while not patience.over():
        time.sleep(0.01)
    ended = time.monotonic()
    waited = ended - patience.started
    worker.join()
    if waited <= 4 * LIMIT:  # only if the machine held the worker up that long
        pause = worker.longest_pause(patience.started, ended)
        assert pause > LIMIT, f"gave up after {waited:.2f} s while it worked"
    assert "did nothing" in patience.waited()


def test_a_stuck_server_fails_at_the_limit() -> None:
    time.sleep(LIMIT)  # let the last move of an earlier test age
    patience = harness.Patience(LIMIT)
    while not patience.over():
        time.sleep(0.01)
    waited = time.monotonic() - patience.started
    assert waited < LIMIT + 0.5, f"waited {waited:.2f} s for nothing"
    assert patience.waited().endswith("(the server did nothing meanwhile)")


def test_a_busy_server_is_not_waited_for_beyond_the_cap() -> None:
    worker = busy(LIMIT * harness.PATIENCE_CAP + 2)
    patience = harness.Patience(LIMIT)
    while not patience.over():
        time.sleep(0.01)
    ended = time.monotonic()
    waited = ended - patience.started
    said = patience.waited()
    worker.join()
    assert waited < LIMIT * harness.PATIENCE_CAP + 1
    if waited < LIMIT * harness.PATIENCE_CAP:  # a loaded machine held the worker up
        pause = worker.longest_pause(patience.started, ended)
        assert pause > LIMIT, f"gave up after {waited:.2f} s while it worked"
        assert "did nothing" in said
    else:
        assert "busy, but not with this" in said


def test_the_harness_threads_do_not_count_as_the_server_moving() -> None:
    before = ownership.moved_at
    busy(0.1, name="test-helper").join()
    assert ownership.moved_at == before


def test_a_slow_correct_server_passes() -> None:
    """Every store call of slow_steps takes 20 ms: replies take longer than
    the reply limit given here (0.5 s), and the server passes, as it must."""
    result = run_suite(
        "grading.proof.correct_servers.slow_steps:KeyValueServer",
        "test_basic.py",
        env={"KV_REPLY_TIMEOUT": "0.5", "KV_CALL_TIMEOUT": "0.5"},
        select="test_basic3",
    )
    assert result.returncode == 0, result.stdout + result.stderr
