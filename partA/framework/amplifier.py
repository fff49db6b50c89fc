"""The race amplifier: seeded yields and short delays where threads meet.

Under ``--stress``, every queue ``put``/``get``, socket ``recv``/``send``/
``sendall``/``accept`` and store call first asks ``jiggle()``, which, by a
random draw, lets another thread run (``time.sleep(0)``), waits a moment
(up to ``MAX_DELAY``), or goes on. So interleavings that a quiet machine
almost never produces (one thread running between another's two
looks at a table, say) come up often.

The draws are seeded: each thread draws from its own generator, made from
the run's seed, the test's id and the thread's name, so a failure can be
replayed with the seed the run printed (``--stress-seed``). Replaying gives
each thread the same draws, not the same timing: a race that failed with a
seed fails again with it far more often than not, not always.

What it assumes of the interpreter: nothing of its lock. Each thread draws
from a generator of its own (``threading.local``); the seed and the test's
id are strings replaced whole, between tests.
"""

from __future__ import annotations

import queue
import random
import socket
import threading
import time

MAX_DELAY = 0.002  # seconds
YIELD, DELAY = 0.25, 0.05  # how often a call yields, and waits a moment

_state = threading.local()
_seed: str | None = None  # None: off
_test = ""


def jiggle() -> None:
    """Perhaps let other threads run, perhaps wait a moment, at this call."""
    if _seed is None:
        return
    rng = getattr(_state, "rng", None)
    if rng is None or getattr(_state, "test", None) != _test:
        name = threading.current_thread().name
        rng = _state.rng = random.Random(f"{_seed}:{_test}:{name}")
        _state.test = _test
    draw = rng.random()
    if draw < DELAY:
        time.sleep(rng.uniform(0, MAX_DELAY))
    elif draw < DELAY + YIELD:
        time.sleep(0)


def _before(cls: type, method: str) -> None:
    original = getattr(cls, method)

    def jiggled(self, *args, **kwargs):
        jiggle()
        return original(self, *args, **kwargs)

    jiggled.__name__ = method
    setattr(cls, method, jiggled)


_installed = False


def start(seed: str) -> None:
    """Turn the amplifier on for the rest of the run, with ``seed``."""
    global _seed, _installed
    _seed = seed
    if not _installed:
        _installed = True
        for method in ("put", "get"):
            _before(queue.Queue, method)
        for method in ("recv", "send", "sendall", "accept"):
            _before(socket.socket, method)


def set_test(test_id: str) -> None:
    """Start every thread's draws afresh for this test."""
    global _test
    _test = test_id
