"""Wheat: a correct squarer whose output queue has another maxsize (unbounded)
and whose thread has another name.

Its output queue is unbounded (the worker still waits for each square to be
read, so it never holds more than one) and its thread has another name.
Tests that check ``squares.maxsize``, ``squares.full()`` or the thread's
name over-specify, and fail here.
"""

from partB.squarer import Squarer as Reference
from partB.squarer import _Outbox

RUNS = 1


class Squarer(Reference):
    def initialize(self, inputs):
        squares = super().initialize(inputs)
        self._worker.name = "squaring-worker"
        return squares

    def _make_outbox(self) -> _Outbox:
        return _Outbox(maxsize=0)
