"""Wheat: a correct squarer that is slow at every step nothing waits for.

Before each step (taking a value, putting its square) it waits until some
thread waits on its output, for at most STEP_SECONDS, the longest pause the
contract allows. A thread waits on the output while it is blocked in
``get()`` on it, or when it looks at it (``empty()``, ``qsize()``,
``get_nowait()``, ...) after the step came due: a step comes due when a
value waits in the input, or when a square is ready. At the first value,
only the test's own thread (the main thread) counts, not a reader thread the
test started: a test that sleeps while its reader collects fails here too.
An unwatched pause is cut short by a random 0 to JITTER_SECONDS, drawn from
a generator seeded with SQUARER_SEED (the grader passes the run number less
one), so that a grade can be reproduced. A watched step goes on at once:
no pause there, so that a long honest test stays quick even on a machine
short of CPU, where every extra wait of a thread may cost a time slice.

So a test that sleeps to let the squarer "finish", and then looks, finds it
not yet started, on every run and on any machine; a test that waits for what
it expects loses almost no time. A test that waits for something other than
the output (``wait_until(lambda: inputs.qsize() == 2)``) loses up to
STEP_SECONDS a step.
"""

import os
import random
import threading
import time

from partB.squarer import POLL_SECONDS, SLOWEST_STEP_SECONDS, _Outbox
from partB.squarer import Squarer as Reference

RUNS = 2
STEP_SECONDS = SLOWEST_STEP_SECONDS  # the longest pause the contract allows
JITTER_SECONDS = 0.2
INPUT_POLL_SECONDS = 0.005  # how often it looks whether a value waits

_seed = os.environ.get("SQUARER_SEED")  # unset: a different run every time
_jitter = random.Random(None if _seed is None else int(_seed))


class _WatchedOutbox(_Outbox):
    """The output queue, which notes the threads that wait on it or look at it.

    ``waiting`` and ``lookers`` are sets that readers add themselves to and
    the worker reads (by ``copy()``, a single step under the GIL) or clears.
    ``news`` is set whenever a thread starts waiting or looks.
    """

    def __init__(self) -> None:
        super().__init__(maxsize=1)
        self.worker: threading.Thread | None = None
        self.waiting: set[threading.Thread] = set()  # blocked in get() now
        self.lookers: set[threading.Thread] = set()  # looked since last cleared
        self.news = threading.Event()

    def _qsize(self) -> int:
        # Queue calls _qsize, with its lock held, for every look: empty(),
        # qsize(), full(), and get() before it takes or waits.
        if threading.current_thread() is not self.worker:
            self.lookers.add(threading.current_thread())
            self.news.set()
        return super()._qsize()

    def get(self, block: bool = True, timeout: float | None = None) -> int:
        if not block:
            return super().get(block=False)
        reader = threading.current_thread()
        self.waiting.add(reader)
        self.news.set()
        try:
            return super().get(block=True, timeout=timeout)
        finally:
            self.waiting.discard(reader)


class Squarer(Reference):
    def __init__(self) -> None:
        super().__init__()
        self._first = True  # the first value is still to be taken

    def _make_outbox(self) -> _WatchedOutbox:
        return _WatchedOutbox()

    def _run(self, inputs, squares):
        squares.worker = threading.current_thread()
        self._squares = squares
        super()._run(inputs, squares)

    def _next_input(self, inputs):
        while inputs.empty():  # a step comes due when a value waits
            if self._closing.wait(INPUT_POLL_SECONDS):
                return None
        self._until_watched(only_main=self._first)
        self._first = False
        return super()._next_input(inputs)

    def _hand_over(self, square, squares):
        self._until_watched()
        return super()._hand_over(square, squares)

    def _until_watched(self, *, only_main: bool = False) -> None:
        """Wait until a thread waits on the output, or STEP_SECONDS, or close().

        ``only_main``: only the main thread counts.
        """
        squares: _WatchedOutbox = self._squares
        squares.lookers.clear()  # only looks from now on count
        pause = STEP_SECONDS - _jitter.uniform(0, JITTER_SECONDS)
        deadline = time.monotonic() + pause
        while (left := deadline - time.monotonic()) > 0:
            squares.news.clear()
            watchers = squares.waiting.copy() | squares.lookers.copy()
            if only_main:
                watchers &= {threading.main_thread()}
            if watchers or self._closing.is_set():
                return
            squares.news.wait(min(left, POLL_SECONDS))
