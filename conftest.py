"""What every suite of the kit shares: a backstop time limit that works on
every system.

Each test waits with deadlines of its own and says what it waited for; the
per-test limit of pytest-timeout (``timeout`` in pyproject.toml) is only a
backstop. pytest-timeout stops a test that passes it with SIGALRM, where the
system has one (Linux, macOS). Windows has none, and pytest-timeout's other
method ends the whole run at the first such test, with no summary. There
this plugin stops the test as SIGALRM would, and the run goes on: a timer
thread interrupts the main thread (``_thread.interrupt_main``), and the
handler that receives the interrupt fails the test that is running.

``KV_TIMEOUT_METHOD=interrupt`` uses it on any system, which is how it is
tested (grading/tests/test_portability.py).
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
from typing import Any

import pytest

_STASH = pytest.StashKey[tuple[threading.Timer, Any]]()


def _interrupting() -> bool:
    forced = os.environ.get("KV_TIMEOUT_METHOD") == "interrupt"
    return forced or not hasattr(signal, "SIGALRM")


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """Where there is no SIGALRM: start the timer that stops ``item``."""
    if not _interrupting() or not settings.timeout:
        return None  # pytest-timeout's own method
    timed_out = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if not timed_out.is_set():  # a real Ctrl-C
            raise KeyboardInterrupt
        pytest.fail(
            f"Timeout: the test ran for more than {settings.timeout:g} s, "
            f"the backstop limit (a wait without a deadline of its own?)",
            pytrace=False,
        )

    def interrupt() -> None:
        timed_out.set()
        _thread.interrupt_main(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    timer = threading.Timer(settings.timeout, interrupt)
    timer.name = f"timeout of {item.name}"
    timer.daemon = True
    timer.start()
    item.stash[_STASH] = (timer, previous)
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    timer, previous = item.stash.get(_STASH, (None, None))
    if timer is None:
        return None
    timer.cancel()
    timer.join()
    signal.signal(signal.SIGINT, previous)
    del item.stash[_STASH]
    return True


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Hypothesis's pytest plugin imports Hypothesis at the end of every run
    (half a second of a student's run of one suite), even when no collected
    test uses it: then it is let go."""
    if any(
        getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        for item in items
    ):
        return
    plugin = config.pluginmanager.get_plugin("hypothesispytest")
    if plugin is not None:
        config.pluginmanager.unregister(plugin)
