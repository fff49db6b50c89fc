# A student who sleeps to let the squarer "finish" before looking. Each of the
# four sleeping tests passes on a fast squarer, nearly always; each fails on
# the grader's slow squarer on every run: the file is invalid.
# Appended to the starter file (partB/test_squarer.py as handed out), whose
# helpers, constants and fixtures they use.
# ruff: noqa: F821

import queue
import threading
import time

from partB.squarer import Squarer

NAP = 0.5  # seconds: "plenty of time for a squarer"


def test_squares_after_a_nap(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    for value in (2, 3):
        inputs.put(value)
    time.sleep(NAP)
    assert squares.get_nowait() == 4


def test_takes_one_value_after_a_nap(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    assert squares.empty()
    for value in (1, 2, 3):
        inputs.put(value)
    time.sleep(NAP)
    assert inputs.qsize() == 2
    assert squares.qsize() == 1


def test_a_reader_collects_during_a_nap(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    got: list[int] = []
    squares = squarer.initialize(inputs)
    reader = threading.Thread(target=lambda: got.append(receive(squares)))
    reader.start()
    inputs.put(7)
    time.sleep(NAP)
    assert got == [49]
    reader.join(TIMEOUT)


def test_the_second_square_after_a_nap(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(4)
    assert receive(squares) == 16
    inputs.put(5)
    time.sleep(NAP)
    assert squares.qsize() == 1
    assert squares.get_nowait() == 25


def test_three_squares_to_nine(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(3)
    assert receive(squares) == 9


def test_close_is_prompt(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squarer.initialize(inputs)
    returns_within(PROMPT, squarer.close, "close()")
