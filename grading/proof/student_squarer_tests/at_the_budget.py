# A student who spends nearly all of a test's time budget, as HANDOUT.md
# counts it: 2 s for each step nothing waits on, 0.5 s for each close(),
# 0.3 s for each stays_true, under 8 s in all. Valid: no correct squarer,
# however slow the contract lets it be, runs it out of time.
# Appended to the starter file (partB/test_squarer.py as handed out), whose
# helpers, constants and fixtures they use.
# ruff: noqa: F821

import queue

from partB.squarer import Squarer


def test_three_values_watched_only_on_the_input(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    # 3 steps nothing waits on (6 s), 2 close() (1 s), 1 stays_true (0.3 s)
    squares = squarer.initialize(inputs)
    for value in (4, 5, 6):
        inputs.put(value)
        wait_until(inputs.empty, f"{value} taken")  # watches the input only
        assert receive(squares) == value * value
    returns_within(PROMPT, squarer.close, "close()")
    assert stays_true(squares.empty), "a square appeared after close()"
