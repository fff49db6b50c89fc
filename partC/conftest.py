"""Fixtures for the partC suites; the harness is in ``framework/harness.py``.

``--partc-server module:Class`` (or ``KV_PARTC_SERVER``) picks the server
class, as partA's ``--server`` does for partA; the name differs so that both
suites can run in one pytest session.
"""

from __future__ import annotations

import os

import pytest

from partA.framework.harness import load_server_class
from partC.framework.harness import DEFAULT_SERVER, PartCServerUnderTest

# partA's guards: a server thread that never ends must not keep pytest alive.
from partA.conftest import pytest_sessionfinish, pytest_unconfigure  # noqa: F401


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--partc-server",
        default=os.environ.get("KV_PARTC_SERVER", DEFAULT_SERVER),
        help="the partC server class to test, as module:Class (default: %(default)s)",
    )


@pytest.fixture
def kv(request: pytest.FixtureRequest):
    """A started partC server under test; closed (and checked) by the test or here."""
    server_class = load_server_class(request.config.getoption("--partc-server"))
    harness = PartCServerUnderTest(server_class)
    yield harness
    harness.clean_up()  # if the test failed before its own close()
