"""crunner with partC's server: its help, and notifications as they arrive.

The processes and helpers are those of ``test_runners.py``: real processes,
real sockets, no sleeps; every wait has a deadline.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runners.crunner import Colours, styled
from runners.test_runners import (
    CRUNNER,
    SRUNNER,
    Runner,
    connect,
    exchange,
    run_crunner,
    start,  # noqa: F401 (the fixture)
    start_srunner,
)

PARTC_COMMANDS = ("List", "Subscribe", "Unsubscribe", "Begin", "Commit", "Rollback")


@pytest.fixture
def partc_srunner(start: Callable[..., Runner]) -> tuple[Runner, int]:  # noqa: F811
    """``srunner.py --server partC --port 0``, and its port."""
    return start_srunner(start, SRUNNER, "--server", "partC")


def test_crunner_help_shows_partc_commands(
    partc_srunner: tuple[Runner, int],
    start: Callable[..., Runner],  # noqa: F811
) -> None:
    _, port = partc_srunner
    client = run_crunner(start, port, "help\n")
    assert client.popen.returncode == 0, client
    for command in PARTC_COMMANDS:
        lines = [line for line in client.stdout if line.strip().startswith(command)]
        assert lines, f"help does not list {command}; {client}"
        assert len(lines[0].split()) > 1, f"help does not explain {command}; {client}"


def test_crunner_prints_notifications_as_they_arrive(
    partc_srunner: tuple[Runner, int],
    start: Callable[..., Runner],  # noqa: F811
) -> None:
    _, port = partc_srunner
    client = start([CRUNNER, "--port", str(port)])
    client.send("Subscribe\n")
    client.wait_for_line("^Subscribed$")
    with connect(port) as other:
        exchange(other, b"Put:fruit:apple\nPing\n", 1)
        # crunner's input is still open: the line must come without prompting.
        client.wait_for_line("^Changed:put:fruit$")
    client.send("List\n")
    client.wait_for_line("^End:List$")
    client.close_input()
    assert client.finish() == 0, client
    assert client.stdout == ["Subscribed", "Changed:put:fruit", "fruit:apple",
                             "End:List"], client  # fmt: skip


def test_terminal_marks_notifications_and_errors() -> None:
    plain = Colours(None)  # no terminal: no colour codes
    assert styled("a:1", plain) == "a:1"
    assert styled("Changed:put:a", plain) == "* Changed:put:a"
    coloured = Colours(None)
    coloured.enabled = True
    reply, notification = styled("a:1", coloured), styled("Changed:put:a", coloured)
    error = styled("Aborted:key a was changed", coloured)
    assert len({reply[:5], notification[:5], error[:5]}) == 3, (
        "replies, notifications and errors must each have their own colour"
    )
