"""Chaff: races ahead of its reader: every value is squared into an unbounded queue.

The worker never waits for its reader, so it drains the input as fast as
values arrive. Squares are right and in order.
"""

from partB.squarer import Squarer as Reference
from partB.squarer import _Outbox

HINT = "Send several values and read none: how many does the squarer take?"


class Squarer(Reference):
    def _make_outbox(self) -> _Outbox:
        return _Outbox(maxsize=0)

    def _hand_over(self, square, squares):
        squares.put(square)
        return True  # BUG: does not wait until the square is read
