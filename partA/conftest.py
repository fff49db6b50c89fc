"""Fixtures for the partA suites; the harness itself is in ``harness.py``."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from partA.harness import DEFAULT_SERVER, ServerUnderTest, load_server_class


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server",
        default=os.environ.get("KV_SERVER", DEFAULT_SERVER),
        help="the server class to test, as module:Class (default: %(default)s)",
    )


@pytest.fixture
def kv(request: pytest.FixtureRequest):
    """A started server under test; closed (and checked) by the test or here."""
    server_class = load_server_class(request.config.getoption("--server"))
    harness = ServerUnderTest(server_class)
    yield harness
    if not harness.closed:  # the test failed before its own close(): clean up
        harness.closed = True
        for client in harness.clients:
            client.close()
        harness.call("close()", harness.server.close)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Do not let a server thread that never ended keep pytest from exiting.

    A broken ``close()`` can leave non-daemon threads running; the test that
    caused it has failed already, so end the process here instead of hanging.
    """
    stuck = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon
    ]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_kv_exitstatus", 1))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._kv_exitstatus = exitstatus
