# A student whose test waits for ever: it reads a second square with no
# timeout, and none comes. The grader stops it at the limit of one test, says
# so, and judges the other tests.
# Appended to the starter file (partB/test_squarer.py as handed out), whose
# helpers, constants and fixtures they use.
# ruff: noqa: F821

import queue

from partB.squarer import Squarer


def test_three_squares_to_nine(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(3)
    assert receive(squares) == 9


def test_reads_one_square_too_many(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(4)
    assert squares.get() == 16
    assert squares.get() == 16  # no timeout, and no second value: waits for ever


def test_close_is_prompt(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squarer.initialize(inputs)
    returns_within(PROMPT, squarer.close, "close()")
