"""Chaff: close() hangs while a square waits unread on the output.

The worker waits for its reader with no timeout, so it never looks at
``closing`` until the square is read, and close() waits for it forever.
"""

from partB.squarer import Squarer as Reference

HINT = "Call close() while a square waits unread: does it return?"


class Squarer(Reference):
    def _hand_over(self, square, squares):
        squares.taken.clear()
        squares.put(square)
        squares.taken.wait()  # BUG: cannot be interrupted by close()
        return True
