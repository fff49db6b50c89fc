"""The squarer: one worker thread between two queues, in step with its reader.

Theory of operation
-------------------
``initialize(inputs)`` makes the output queue, starts one worker thread
named "squarer", and returns the output queue at once. The worker repeats
three steps:

1. take the next value from ``inputs``, waiting while it is empty;
2. put the value's square on the output queue;
3. wait until the reader has taken that square.

Step 3 keeps the squarer in step with its reader: it takes a value only
after every square before it has been read, so it holds one value at most
and step 2 never finds the output full. The output queue itself says when a
square is read: it is a ``queue.Queue`` whose ``_get`` (the hook that
``Queue`` documents for subclasses) also sets its ``taken`` Event.

Stopping. ``close()`` sets the ``closing`` Event and joins the worker. A
thread blocked in ``Queue.get`` cannot be woken from outside, and
``inputs`` belongs to the caller, so close() may not put a stop marker on
it. Instead the worker never waits longer than ``POLL_SECONDS`` without
looking at ``closing``: both of its waits (steps 1 and 3) are loops of short
waits. It exits at its first look after close(), so close() returns within
about ``POLL_SECONDS``. A value taken while close() runs still has its
square put on the output before the worker exits: nothing taken is lost.

Who owns what: only the worker takes from ``inputs`` and puts on the
output; the reader only takes from the output. ``closing`` is set by
close() and read by the worker. ``taken`` is set by the output queue when
the reader takes a square, and cleared by the worker before it puts the
next one.
"""

import queue
import threading

# The longest the worker waits before it looks at `closing` again: close()
# returns within about this long.
POLL_SECONDS = 0.05

# The contract's slowest step (5): while nothing waits on the output, a
# correct squarer may pause up to this long before taking a value, and as
# long again before putting its square. This one does not pause; the
# grader's slow squarer does.
SLOWEST_STEP_SECONDS = 2.0

# The contract's slowest close() (4): a correct close() returns within this.
SLOWEST_CLOSE_SECONDS = 0.5


class _Outbox(queue.Queue[int]):
    """The output queue: a ``queue.Queue`` that sets ``taken`` as each item leaves."""

    def __init__(self, maxsize: int = 1) -> None:
        super().__init__(maxsize)
        self.taken = threading.Event()

    def _get(self) -> int:
        # Queue calls _get once per item taken, with its own lock held,
        # whichever of get() or get_nowait() the reader used.
        square = super()._get()
        self.taken.set()
        return square


class Squarer:
    """Squares the integers from an input queue, one at a time, onto an output queue.

    Typical use::

        inputs = queue.Queue()
        squarer = Squarer()
        squares = squarer.initialize(inputs)
        inputs.put(3)
        squares.get(timeout=5)  # 9
        squarer.close()

    The contract: what every correct squarer does, and all a test may rely on.

    1. In order. Every value the squarer takes from ``inputs`` yields its
       square on the output, in the order the values were taken (for a
       ``queue.Queue``, the order they were put). None is lost, not even a
       value taken while close() runs.
    2. One value at a time. The squarer takes a value from ``inputs`` only
       when every square it has put on the output has been taken by the
       reader. So it holds at most one value at any moment (taken and being
       squared, or squared and unread on the output), the output never holds
       more than one unread square, and every value not yet taken stays in
       ``inputs``, where the caller can see it (``inputs.qsize()``).
    3. Closing. After close() returns, the worker thread has exited, nothing
       more is taken from ``inputs`` and nothing more is put on the output.
       A square already waiting on the output stays there to be read; no
       end-of-stream marker is added, and neither queue is closed or drained.
    4. close() returns promptly, within ``SLOWEST_CLOSE_SECONDS`` (0.5 s),
       even while the worker waits for input or for its reader, and may be
       called again.
    5. Time. While nothing waits on the output, a step (taking a value,
       putting its square) may come up to ``SLOWEST_STEP_SECONDS`` (2 s)
       late. While a thread waits on the output, the squarer does not pause:
       the step goes on at once. A thread waits on the output while it is
       blocked in ``get()`` on it, or while it keeps looking at it
       (``empty()``, ``qsize()``, ``full()`` or ``get_nowait()`` in a loop, as
       ``wait_until`` does). Before the first value is taken, only the
       test's own thread (the main thread) counts, not a reader thread it
       started. So a test that waits on the output for what it expects
       loses no time; each step nothing waits on (sleeping, or watching only
       ``inputs``) may cost it 2 s. Never sleep to let it "finish".

    Not in the contract, so a correct squarer may differ here and a test must
    not depend on it: how long each step takes within those bounds (it may
    be at once: a square read may let the next value in before ``get()``
    returns), how long close() takes within its 0.5 s, the output queue's
    ``maxsize``, the worker thread's name, the squarer's private attributes
    (``_worker`` and the like), how the worker waits (for input it may block
    in ``inputs.get()`` or look at ``inputs.empty()``), and how close()
    tells the worker to stop.
    """

    def __init__(self) -> None:
        self._closing = threading.Event()
        self._worker: threading.Thread | None = None

    def initialize(self, inputs: queue.Queue[int]) -> queue.Queue[int]:
        """Start the worker and return, at once, the queue the squares arrive on.

        Call it once, before close(). The squarer only ever takes from
        ``inputs``; it never puts anything on it. Raises ``RuntimeError`` if
        called a second time or after close(): this squarer's way with a
        caller's mistake, not a promise of the contract (a test must not
        rely on it).
        """
        if self._worker is not None or self._closing.is_set():
            raise RuntimeError("initialize() may be called only once, before close()")
        squares = self._make_outbox()
        self._worker = threading.Thread(
            target=self._run, args=(inputs, squares), name="squarer", daemon=True
        )
        self._worker.start()
        return squares

    def close(self) -> None:
        """Stop the worker and return once it has exited.

        Returns within about ``POLL_SECONDS``, whatever the worker is waiting
        for. Leaves both queues as they are. Safe to call more than once, and
        before initialize().
        """
        self._closing.set()
        if self._worker is not None:
            self._worker.join()

    # The worker thread. Each step is a method of its own, so that the
    # grader's variants can each change one step.

    def _make_outbox(self) -> _Outbox:
        return _Outbox(maxsize=1)

    def _run(self, inputs: queue.Queue[int], squares: _Outbox) -> None:
        """The worker: one value at a time, until close() is called."""
        while (value := self._next_input(inputs)) is not None:
            if not self._hand_over(self._square(value), squares):
                return

    def _next_input(self, inputs: queue.Queue[int]) -> int | None:
        """Step 1: the next value from ``inputs``, or None once close() is called."""
        while not self._closing.is_set():
            try:
                return inputs.get(timeout=POLL_SECONDS)
            except queue.Empty:
                pass
        return None

    @staticmethod
    def _square(value: int) -> int:
        return value * value

    def _hand_over(self, square: int, squares: _Outbox) -> bool:
        """Steps 2 and 3: put ``square`` on the output and wait until it is read.

        Returns False if close() is called before the reader takes it. The
        put never blocks: the output is empty, since the square before this
        one has been read.
        """
        squares.taken.clear()
        squares.put(square)
        while not squares.taken.wait(POLL_SECONDS):
            if self._closing.is_set():
                return False
        return True
