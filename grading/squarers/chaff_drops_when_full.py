"""Chaff: loses a square when the output is full.

It does not wait for its reader: it offers each square to the output
queue (room for one) and drops it if the previous one is still unread.
"""

import contextlib
import queue

from partB.squarer import Squarer as Reference

HINT = "Send several values before reading any: does every square arrive?"


class Squarer(Reference):
    def _hand_over(self, square, squares):
        with contextlib.suppress(queue.Full):  # BUG: a square that does not fit is lost
            squares.put_nowait(square)
        return True
