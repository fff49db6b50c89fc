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


def test_basic_correctness(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    """2 goes in, 4 comes out."""
    squares = returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")
    inputs.put(2)
    assert receive(squares) == 4


def test_three(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")
    inputs.put(3)
    assert receive(squares) == 9


def test_negative(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")
    inputs.put(-5)
    assert receive(squares) == 25


def test_a_few_in_a_row(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")
    for value in range(1, 6):
        inputs.put(value)
        assert receive(squares) == value * value
