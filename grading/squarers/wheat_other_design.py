"""Wheat: a correct squarer of another design: other private names, thread
name and maxsize, another way to stop the worker, and a close() that takes 0.3 s.

Written apart from partB/squarer.py: it shares only the public API. What
the contract leaves free, it does otherwise:

- private names: it has no ``_worker`` and no ``_closing``; its thread,
  named "square-pump", is ``_pump``;
- how the worker waits: for input, it looks with ``get_nowait()`` between
  naps; for its reader, it watches the output until it is empty;
- how close() stops the worker: close() posts a stop request on the
  worker's mailbox (a queue of its own), and the worker naps on that
  mailbox, so it wakes as soon as the request comes;
- how long close() takes: the worker winds down for CLOSE_SECONDS before
  it exits, as a squarer that flushes a log might: "well within a second",
  as the contract allows, but not at once;
- the output's maxsize: 2 (the worker still waits for each square to be
  read, so the output never holds two).

So a test that reads ``squarer._worker``, or asserts that close() returns
in under a tenth of a second, fails here on every run.
"""

import queue
import threading
import time

RUNS = 1
NAP_SECONDS = 0.01  # the worker's nap between looks, on its mailbox
CLOSE_SECONDS = 0.3  # the worker's wind-down: close() takes this long
STOP = "stop"  # the request close() posts on the worker's mailbox


class Squarer:
    def __init__(self) -> None:
        self._mailbox: queue.Queue[str] = queue.Queue()  # close() -> the pump
        self._pump: threading.Thread | None = None

    def initialize(self, inputs: queue.Queue[int]) -> queue.Queue[int]:
        squares: queue.Queue[int] = queue.Queue(maxsize=2)
        self._pump = threading.Thread(
            target=self._pump_squares,
            args=(inputs, squares),
            name="square-pump",
            daemon=True,
        )
        self._pump.start()
        return squares

    def close(self) -> None:
        if self._pump is not None:
            self._mailbox.put(STOP)
            self._pump.join()

    def _pump_squares(self, inputs: queue.Queue[int], squares: queue.Queue[int]):
        """Square one value at a time until a stop request comes, then wind down."""
        while True:
            try:
                value = inputs.get_nowait()
            except queue.Empty:
                if self._stop_requested():
                    break
                continue
            squares.put(value * value)  # a value taken is never lost
            if not self._until_read(squares):
                break
        time.sleep(CLOSE_SECONDS)

    def _until_read(self, squares: queue.Queue[int]) -> bool:
        """Wait until the reader has taken the square; False on a stop request."""
        while not squares.empty():
            if self._stop_requested():
                return False
        return True

    def _stop_requested(self) -> bool:
        """Nap on the mailbox for NAP_SECONDS: True if a stop request came."""
        try:
            return self._mailbox.get(timeout=NAP_SECONDS) == STOP
        except queue.Empty:
            return False
