"""Wheat: a correct squarer that moves on the moment its square is read.

When the reader takes a square and another value waits in the input, the
squarer takes that value and puts its square on the output before the
reader's ``get()`` returns. So a test that reads a square and then counts
what is left (``inputs.qsize()``, ``squares.empty()``) as if the squarer had
not moved on yet fails here on every run, where on a fast squarer it passes
only when the worker happens to be slower than the test.
"""

import queue
import threading

from partB.squarer import _Outbox
from partB.squarer import Squarer as Reference

RUNS = 1
MOVE_ON_SECONDS = 0.5  # the longest a reader's get() waits for the worker


class _EagerOutbox(_Outbox):
    """The output queue: ``get()`` returns once the worker has moved on.

    ``moved_on`` is cleared as each square is taken (before ``taken`` is
    set, so that the worker cannot move on first), and set by the worker
    when it has put its next square, or found no value waiting.
    """

    def __init__(self) -> None:
        super().__init__(maxsize=1)
        self.worker: threading.Thread | None = None
        self.moved_on = threading.Event()

    def _put(self, square: int) -> None:
        super()._put(square)
        self.moved_on.set()

    def _get(self) -> int:
        self.moved_on.clear()
        return super()._get()

    def get(self, block: bool = True, timeout: float | None = None) -> int:
        square = super().get(block, timeout)
        if self.worker is not None and self.worker.is_alive():
            self.moved_on.wait(MOVE_ON_SECONDS)
        return square


class Squarer(Reference):
    def _make_outbox(self) -> _EagerOutbox:
        return _EagerOutbox()

    def _run(self, inputs, squares):
        squares.worker = threading.current_thread()
        self._squares = squares
        try:
            super()._run(inputs, squares)
        finally:
            squares.moved_on.set()  # no reader waits for a worker that has gone

    def _next_input(self, inputs):
        if not self._closing.is_set():
            try:
                return inputs.get_nowait()  # a value already waiting: at once
            except queue.Empty:
                pass
        self._squares.moved_on.set()  # nothing waits: the reader may go on
        return super()._next_input(inputs)
