# A student who tests what the reference squarer happens to do, not what the
# contract promises. Each of the four tests below passes on the reference
# squarer and fails, on every run, on another correct squarer: the file is
# invalid, and the verdict names each of them.
# Appended to the starter file (partB/test_squarer.py as handed out), whose
# helpers, constants and fixtures they use.
# ruff: noqa: F821

import queue
import threading

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


def test_three_squares_to_nine(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(3)
    assert receive(squares) == 9
