"""Wheat: a correct squarer that pauses for a random while at every step.

It pauses (up to PAUSE_MAX seconds) before taking each value, before putting
each square, and when close() is called, all places where the contract
allows a delay. A test that sleeps to let the squarer "finish" passes on a
fast squarer by luck, and fails here.

The pauses are drawn from a generator seeded with SQUARER_SEED (the grader
passes the run number less one), so that a grade can be reproduced. With
seeds 0 to 4, the first square of a test file's first squarer appears after
pauses of 0.32, 0.20, 0.38, 0.16 and 0.07 s: a test that sleeps 0.1 s and
expects it fails in 4 of the 5 runs.
"""

import os
import random

from partB.squarer import Squarer as Reference

RUNS = 5
PAUSE_MAX = 0.2  # seconds

_seed = os.environ.get("SQUARER_SEED")  # unset: a different run every time
_pauses = random.Random(None if _seed is None else int(_seed))


class Squarer(Reference):
    def _pause(self) -> None:
        # Waiting on `closing` rather than sleeping: close() cuts a pause short.
        self._closing.wait(_pauses.uniform(0, PAUSE_MAX))

    def _next_input(self, inputs):
        self._pause()
        return super()._next_input(inputs)

    def _hand_over(self, square, squares):
        self._pause()
        return super()._hand_over(square, squares)

    def close(self) -> None:
        self._pause()
        super().close()
