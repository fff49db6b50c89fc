"""The runners with partC: srunner's --server and --store, crunner's help and
notifications as they arrive. Ships to students only with partC.

The processes and helpers are those of ``test_runners.py``: real processes,
real sockets, no sleeps; every wait has a deadline.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from runners.crunner import Colours, styled
from runners.test_runners import (
    CRUNNER,
    REPO_ROOT,
    SRUNNER,
    Runner,
    connect,
    exchange,
    posix_signals,
    run_crunner,
    start,  # noqa: F401 (the fixture)
    start_srunner,
    stop,
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


@posix_signals
@pytest.mark.parametrize("server_name", ["partA", "partC"])
def test_srunner_sqlite_store_survives_a_restart(
    start: Callable[..., Runner],  # noqa: F811
    tmp_path: Path,
    server_name: str,
) -> None:
    args = sqlite_srunner(server_name, tmp_path)
    fruit = [b"fruit:pear", b"fruit:fig"]
    server, port = start_srunner(start, *args)
    with connect(port) as conn:
        requests = (
            b"Put:fruit:apple\nPut:fruit:pear\nUpdate:fruit:apple:fig\nGet:fruit\n"
        )
        assert exchange(conn, requests, 2) == fruit
    assert stop(server, signal.SIGINT) == 0, f"srunner failed; {server}"
    server, port = start_srunner(start, *args)  # the same file, a new process
    with connect(port) as conn:
        assert exchange(conn, b"Get:fruit\n", 2) == fruit, "lost across a restart"
    assert stop(server, signal.SIGINT) == 0, f"srunner failed; {server}"


@pytest.mark.parametrize("spec", ["bogus", "sqlite:", "memory:x", "postgres"])
def test_srunner_rejects_a_bad_store_spec(
    start: Callable[..., Runner],  # noqa: F811
    spec: str,
) -> None:
    server = start([SRUNNER, "--store", spec])
    assert server.finish() == 2, f"srunner should exit 2; {server}"
    message = "\n".join(server.stderr)
    assert "argument --store: " in message, server
    assert repr(spec) in message, f"the message should name the spec; {server}"
    assert not server.stdout, server


def test_srunner_reports_a_store_it_cannot_open(
    start: Callable[..., Runner],  # noqa: F811
    tmp_path: Path,
) -> None:
    where = tmp_path / "no such folder" / "kv.db"
    server = start([SRUNNER, "--store", f"sqlite:{where}", "--port", "0"])
    assert server.finish() == 1, f"srunner should exit 1; {server}"
    assert "cannot open the store sqlite:" in "\n".join(server.stderr), server
    assert not server.stdout, server


@posix_signals
@pytest.mark.parametrize("server_name", ["partA", "partC"])
def test_srunner_keeps_acknowledged_writes_through_sigkill(
    start: Callable[..., Runner],  # noqa: F811
    tmp_path: Path,
    server_name: str,
) -> None:
    """Acknowledged means kept: srunner killed with SIGKILL (no chance to
    close or flush anything) loses no write that a later reply on its
    connection acknowledged, whichever server it runs."""
    args = sqlite_srunner(server_name, tmp_path)
    server, port = start_srunner(start, *args)
    written = {}
    for client in range(2):
        with connect(port) as conn:
            puts = [b"Put:c%d_%d:v%d" % (client, n, n) for n in range(100)]
            last = b"c%d_99" % client
            replies = exchange(conn, b"\n".join([*puts, b"Get:" + last, b""]), 1)
            assert replies == [last + b":v99"], f"the Get's reply; {server}"
            written.update(line[4:].split(b":") for line in puts)
    server.popen.send_signal(signal.SIGKILL)
    server.finish()
    server, port = start_srunner(start, *args)  # the same file, a new process
    with connect(port) as conn:  # the Gets, then a fence: what came before it
        gets = b"".join(b"Get:%s\n" % key for key in written)
        conn.sendall(gets + b"Put:fence:up\nGet:fence\n")
        replies = read_until(conn, b"fence:up")
    assert stop(server, signal.SIGINT) == 0, f"srunner failed; {server}"
    found = dict(line.split(b":") for line in replies)
    assert found == written, (
        f"{len(set(written) - set(found))} of {len(written)} acknowledged writes "
        f"lost to SIGKILL with {server_name}'s server"
    )


def sqlite_srunner(server_name: str, folder: Path) -> list[str]:
    """srunner's arguments for ``server_name`` on a SQLite file in ``folder``;
    skips the test while that server is not written."""
    if not (REPO_ROOT / server_name / "server.py").exists():
        pytest.skip(f"{server_name}/server.py is not there yet")
    return [SRUNNER, "--server", server_name, "--store", f"sqlite:{folder / 'kv.db'}"]


def read_until(conn: socket.socket, last: bytes) -> list[bytes]:
    """The reply lines before ``last``; the socket's timeout bounds each wait."""
    received = b""
    while last not in received.splitlines():
        data = conn.recv(65536)
        assert data, f"the server closed the connection after {received[-200:]!r}"
        received += data
    lines = received.splitlines()
    return lines[: lines.index(last)]
