"""Chaff: keeps reading the input after close().

A wrong fix for close() hanging while the worker waits for input: close()
no longer waits for the worker, which is still blocked in ``inputs.get()``
and takes (and loses) the next value put after close() returned.
"""

from grading.squarers.chaff_close_hangs_on_empty_input import Squarer as Hanging

HINT = "Put a value in after close() has returned: does it stay in the input?"


class Squarer(Hanging):
    def close(self) -> None:
        self._closing.set()  # BUG: does not stop the worker waiting on the input
