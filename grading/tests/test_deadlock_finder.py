"""The deadlock finder (``partA/framework/deadlock.py``) on two threads of its own: a
verdict, naming both, when each waits for the other's queue and the test
waits for them; none while one of them could still move, nor while the
test does something else than wait. (The suites' proof, on whole servers,
is ``test_server_mutants.test_deadlock_is_found_and_explained``.)
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from partA.framework import deadlock, harness, ownership

FINDS_IN = 10.0  # seconds: a verdict takes about 2 on a quiet machine
QUIET_FOR = 3.0  # seconds without a verdict where none is due


class Pair:
    """A "server" of two threads, ping and pong, that hand one item back and
    forth and then each wait for the other (``each_waits``), or of which pong
    keeps polling instead (``pong_polls``)."""

    def __init__(self, pong_polls: bool = False) -> None:
        self.to_pong: queue.Queue[int] = queue.Queue()
        self.to_ping: queue.Queue[int] = queue.Queue()
        self.pong_polls = pong_polls
        self.ping = threading.Thread(target=self._ping, name="ping")
        self.pong = threading.Thread(target=self._pong, name="pong")

    def _ping(self) -> None:
        self.to_pong.put(1)
        self.to_ping.get()  # the answer
        self.to_ping.get()  # one more, which pong never sends: stuck

    def _pong(self) -> None:
        self.to_pong.get()
        self.to_ping.put(2)
        while self.pong_polls and self.to_pong.empty():
            time.sleep(0.05)
        self.to_pong.get()  # stuck: ping sends nothing more

    def release(self) -> None:
        self.to_ping.put(0)
        self.to_pong.put(0)
        self.ping.join()
        self.pong.join()


@pytest.fixture
def watch() -> Iterator[ownership.Watch]:
    watching = ownership.Watch()
    watching.begin()
    yield watching
    watching.stop()


def finder_for(pair: Pair) -> deadlock.Finder:
    me = threading.current_thread()
    return deadlock.Finder(
        pair, lambda: [pair.ping, pair.pong], lambda: [me], harness.last_moved, id
    )


def verdict(finder: deadlock.Finder, seconds: float, waiting: bool = True) -> str:
    """The finder's verdict within ``seconds`` ('' if none)."""
    end = time.monotonic() + seconds
    with deadlock.test_waits() if waiting else contextlib.nullcontext():
        while time.monotonic() < end:
            if found := finder.found():
                return found
            time.sleep(0.05)
    return ""


@pytest.mark.usefixtures("watch")
@pytest.mark.parametrize(
    ("pong_polls", "waiting", "found"),
    [
        pytest.param(False, True, True, id="each-waits-for-the-other"),
        pytest.param(True, True, False, id="one-still-polls"),
        pytest.param(False, False, False, id="the-test-is-not-waiting"),
    ],
)
def test_a_deadlock_is_found_only_when_nothing_can_move(
    pong_polls: bool, waiting: bool, found: bool
) -> None:
    pair = Pair(pong_polls)
    pair.ping.start()
    pair.pong.start()
    try:
        said = verdict(finder_for(pair), FINDS_IN if found else QUIET_FOR, waiting)
    finally:
        pair.release()
    if not found:
        assert said == "", f"a verdict where something could still move:\n{said}"
        return
    assert "ping waits for an item on self.to_ping, which pong puts on" in said
    assert "pong waits for an item on self.to_pong, which ping puts on" in said
    assert said.endswith("each waits for the other"), said
