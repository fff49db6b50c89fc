"""Chaff: initialize() blocks: it joins the worker it has just started."""

from partB.squarer import Squarer as Reference

HINT = "Does initialize() return at once?"


class Squarer(Reference):
    def initialize(self, inputs):
        squares = super().initialize(inputs)
        self._worker.join()  # BUG: waits until close(), which never comes
        return squares
