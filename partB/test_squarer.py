"""Tests for the squarer in partB/squarer.py.

The contract you test is the docstring of ``Squarer`` in partB/squarer.py.
The grader runs your tests against correct squarers, which every test must
pass on every run, and against buggy ones, each of which some test should
fail. So test only what the contract promises.

Two rules keep a concurrent test honest:
- every blocking call has a timeout, so a bug fails the test instead of
  hanging it (``receive`` and ``returns_within`` below do this for you);
- never sleep to make things happen in an order. Wait for what you expect
  (``receive``, ``wait_until``). A short watch (``stays_true``) is only for
  seeing that something does *not* happen.

Time, in numbers (points 4 and 5 of the contract). While nothing waits on
the output, a correct squarer may pause up to 2 s before each step (taking a
value, putting its square); while your test waits on the output
(``receive``, or ``wait_until``/``stays_true`` looking at the output) it goes
on at once; at the first value, only the test's own thread counts, not a
reader thread it started. close() takes up to 0.5 s. Each test must end
within 10 s on every correct squarer (and the whole file within 90 s). So
count, for each test: 2 s for each step nothing waits on (a sleep, or
``wait_until(lambda: inputs.qsize() == 2, ...)``), 0.5 s for each close()
(the fixture's too), QUIET for each ``stays_true``: under 8 s, and the test
never runs out of time. One of the grader's correct squarers pauses 1.8 to
2 s at every step nothing waits on, so a test that sleeps and then looks
fails on it every time.

The fixtures ``inputs`` (an empty queue) and ``squarer`` (a new Squarer,
closed when the test ends) are yours to use, as the first test does.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from partB.squarer import Squarer

# Seconds. A correct squarer may pause up to 2 s before a step nothing waits
# on, and close() may take up to 0.5 s (the contract, points 4 and 5).
TIMEOUT = 5.0  # the longest a test waits for something it expects
QUIET = 0.3  # how long a test watches for something that must not happen
PROMPT = 1.0  # "at once" and "promptly" mean within this

T = TypeVar("T")


def receive(squares: queue.Queue[int]) -> int:
    """The next square from ``squares``, waiting up to TIMEOUT for it."""
    try:
        return squares.get(timeout=TIMEOUT)
    except queue.Empty:
        pytest.fail(f"no square arrived within {TIMEOUT} s")


def returns_within(seconds: float, action: Callable[[], T], what: str) -> T:
    """Run ``action``; return what it returns, or fail the test if it has not
    returned within ``seconds``.

    The action runs in a helper thread, so that a hang fails the test instead
    of hanging it. An exception from the action is raised again here.
    """
    results: list[T] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            results.append(action())
        except BaseException as error:
            errors.append(error)

    helper = threading.Thread(target=attempt, name=f"test: {what}", daemon=True)
    helper.start()
    helper.join(seconds)
    if helper.is_alive():
        pytest.fail(f"{what} did not return within {seconds} s")
    if errors:
        raise errors[0]
    return results[0]


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Wait up to TIMEOUT for ``predicate()`` to be true; fail the test if not."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {TIMEOUT} s for {what}")
        time.sleep(0.005)


def stays_true(predicate: Callable[[], bool], seconds: float = QUIET) -> bool:
    """Watch ``predicate()`` for ``seconds``: False as soon as it is false."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(0.005)
    return predicate()


@pytest.fixture
def inputs() -> queue.Queue[int]:
    """A new, empty input queue."""
    return queue.Queue()


@pytest.fixture
def squarer() -> Iterator[Squarer]:
    """A new Squarer, closed at the end of the test (promptly, or the test fails)."""
    squarer = Squarer()
    yield squarer
    returns_within(PROMPT, squarer.close, "close() at the end of the test")


# BEGIN SOLUTION
# The reference tests: one for each promise of the contract.

VALUES = [3, -4, 0, 12, 1, 7]  # unsorted; negative, zero and one among them


def test_initialize_returns_at_once_and_starts_one_thread(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    before = set(threading.enumerate())
    returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")
    started = [t.name for t in threading.enumerate() if t not in before]
    assert len(started) == 1, f"initialize() should start 1 thread, started {started}"


def test_takes_one_value_at_a_time(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    for value in (1, 2, 3):
        inputs.put(value)
    squares = squarer.initialize(inputs)
    wait_until(lambda: not squares.empty(), "the first square")
    assert stays_true(lambda: inputs.qsize() == 2 and squares.qsize() == 1), (
        f"with 3 values sent and no square read, the squarer took "
        f"{3 - inputs.qsize()} and the output holds {squares.qsize()}: "
        f"it should take 1 value, then wait until its square is read"
    )


def test_squares_come_out_in_order(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    for value in VALUES:  # all waiting at once: the squarer is under load
        inputs.put(value)
    squares = squarer.initialize(inputs)
    received = [receive(squares) for _ in VALUES]
    assert received == [value * value for value in VALUES], f"sent {VALUES}"


def test_close_returns_after_the_worker_exits(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    before = set(threading.enumerate())
    squares = squarer.initialize(inputs)
    inputs.put(5)
    assert receive(squares) == 25
    returns_within(PROMPT, squarer.close, "close()")
    running = [t.name for t in threading.enumerate() if t not in before]
    assert not running, f"close() returned while {running} still ran"


def test_after_close_nothing_is_taken_or_put(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(1)
    assert receive(squares) == 1
    returns_within(PROMPT, squarer.close, "close()")
    inputs.put(2)
    assert stays_true(lambda: inputs.qsize() == 1 and squares.empty()), (
        "after close() returned, the squarer took 2 from the input "
        "or put something on the output"
    )


def test_close_is_prompt_while_waiting_for_input(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    # Once its square is read, the squarer waits for the next value: how it
    # waits is not in the contract, so the test does not look.
    squares = squarer.initialize(inputs)
    inputs.put(8)
    assert receive(squares) == 64
    returns_within(PROMPT, squarer.close, "close() while the squarer waits for input")


def test_close_is_prompt_while_a_square_is_unread(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(6)
    wait_until(lambda: not squares.empty(), "the square of 6")
    returns_within(PROMPT, squarer.close, "close() while a square waits unread")


def test_close_twice(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squarer.initialize(inputs)
    returns_within(PROMPT, squarer.close, "the first close()")
    returns_within(PROMPT, squarer.close, "a second close()")


# END SOLUTION


def test_basic_correctness(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    """2 goes in, 4 comes out."""
    squares = returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")
    inputs.put(2)
    assert receive(squares) == 4


# Your tests go here.
