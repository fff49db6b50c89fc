"""Chaff: close() returns before the worker has stopped.

close() asks the worker to stop but does not join it. The worker stops a
moment later; SLOW_EXIT widens that moment so the bug shows on every run.
"""

import time

from partB.squarer import Squarer as Reference

HINT = "When close() returns, is the worker thread gone?"

SLOW_EXIT = 0.5  # seconds the worker takes to exit: not the bug, its window


class Squarer(Reference):
    def close(self) -> None:
        self._closing.set()  # BUG: does not wait for the worker to exit

    def _run(self, inputs, squares):
        super()._run(inputs, squares)
        time.sleep(SLOW_EXIT)
