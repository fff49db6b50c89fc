# A student who tests what the reference squarer happens to do, not what the
# contract promises: the output's maxsize, the worker thread's name, a private
# attribute, a close() quicker than "well within a second", and how soon the
# squarer moves on. Each of the six tests below passes on the reference
# squarer and fails, on every run, on another correct squarer: the file is
# invalid, and the verdict names each of them, and the correct squarer each
# failed on, which differs from the reference in what the test assumed.
# Appended to the starter file (partB/test_squarer.py as handed out), whose
# helpers, constants and fixtures they use.
# ruff: noqa: F821

import queue
import threading
import time

from partB.squarer import Squarer


def test_the_output_holds_one_square(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    assert squares.maxsize == 1


def test_the_worker_is_called_squarer(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squarer.initialize(inputs)
    assert "squarer" in [thread.name for thread in threading.enumerate()]


def test_the_output_is_full_with_one_square(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(5)
    wait_until(lambda: not squares.empty(), "the square of 5")
    assert squares.full()


def test_two_values_wait_while_the_first_square_is_read(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    for value in (1, 2, 3):
        inputs.put(value)
    squares = squarer.initialize(inputs)
    assert receive(squares) == 1
    assert inputs.qsize() == 2  # the squarer may have taken 2 already


def test_close_ends_the_worker_thread(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squarer.initialize(inputs)
    squarer.close()
    assert not squarer._worker.is_alive()  # a private name of the reference


def test_close_is_quick(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squarer.initialize(inputs)
    started = time.monotonic()
    squarer.close()
    assert time.monotonic() - started < 0.1  # the contract says "well within 1 s"


def test_three_squares_to_nine(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(3)
    assert receive(squares) == 9
