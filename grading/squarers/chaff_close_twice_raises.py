"""Chaff: a second close() raises, as closing a Go channel twice panics."""

from partB.squarer import Squarer as Reference

HINT = "What does a second close() do?"


class Squarer(Reference):
    def close(self) -> None:
        if self._closing.is_set():
            raise RuntimeError("Squarer already closed")  # BUG: must be harmless
        super().close()
