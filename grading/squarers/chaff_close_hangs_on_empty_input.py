"""Chaff: close() hangs while the worker waits for input.

The worker blocks on ``inputs.get()`` with no timeout, so it never looks
at ``closing`` while the input is empty, and close() waits for it forever.
"""

from partB.squarer import Squarer as Reference

HINT = "Call close() while the squarer waits for input: does it return?"


class Squarer(Reference):
    def _next_input(self, inputs):
        value = inputs.get()  # BUG: cannot be interrupted by close()
        return None if self._closing.is_set() else value
