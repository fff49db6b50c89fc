"""Chaff: reorders under load. Values already waiting are taken into a stack.

When several values wait in the input, it takes them all and squares the
newest first. One value at a time, it looks right.
"""

from partB.squarer import Squarer as Reference

HINT = "Put several values in before reading any: do the squares come back in order?"


class Squarer(Reference):
    def __init__(self) -> None:
        super().__init__()
        self._stack: list[int] = []

    def _next_input(self, inputs):
        while not inputs.empty():
            self._stack.append(inputs.get_nowait())
        if self._stack:
            return self._stack.pop()  # BUG: a list used as a stack: newest first
        return super()._next_input(inputs)
