"""A throwaway PostgreSQL server for the tests: a fresh cluster in a temp dir.

Theory of operation
-------------------
``TempCluster.start()`` finds the server's programs (``KV_PG_BINDIR``, else
``pg_ctl`` on the PATH, else the newest ``/usr/lib/postgresql/*/bin``, where
Debian's ``apt-get install postgresql`` puts them), makes a cluster with
``initdb`` in a new directory under the system temp dir, and starts
``postgres`` with ``pg_ctl start -w`` (which returns once the server takes
connections). The server listens on 127.0.0.1 only, on a free port (tried
again on another port if that one was taken meanwhile), with its unix
socket in the temp dir, and trusts local connections as user ``kv``: it is
a test server, reachable from this machine only, and deleted afterwards.
``stop()`` runs ``pg_ctl stop -m fast`` and removes the directory.

PostgreSQL refuses to run as root. When the tests run as root, every
PostgreSQL program runs as the ``postgres`` system user (which the Debian
package creates) through ``subprocess``'s ``user=``/``group=`` (a setuid
in the child, like ``runuser -u postgres --``), and the temp dir is handed
over to that user. Anyone else runs them as themselves.

Anything missing raises ``PostgresUnavailable`` with what is missing and how
to get it. ``postgres_for_tests()`` is the body of the test modules' session
fixtures: it yields a DSN (``KV_POSTGRES_DSN`` if set: a server of your own,
whose database the tests may write tables and schemas into), or skips with
the missing piece named.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "kv"
"""The database superuser of the throwaway cluster."""

SERVICE_USER = "postgres"
"""The system user that runs the server when the tests run as root."""

INSTALL_HINT = "apt-get install -y postgresql (Debian/Ubuntu) or set KV_PG_BINDIR"
START_TRIES = 3  # a free port may be taken between the probe and the bind
STEP_TIMEOUT = 60.0  # seconds for initdb, start or stop


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the text names what is missing."""


def postgres_for_tests() -> Iterator[str]:
    """Yield the DSN of a PostgreSQL server for a test session, then stop it.

    Skips (``pytest.skip``) with the reason when psycopg or the server
    programs are missing, or the server cannot start.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip('psycopg is not installed: pip install "psycopg[binary]"')
    if dsn := os.environ.get("KV_POSTGRES_DSN"):
        yield dsn
        return
    cluster = None
    try:
        cluster = TempCluster()
        dsn = cluster.start()
    except PostgresUnavailable as error:
        if cluster is not None:
            cluster.stop()
        pytest.skip(f"PostgreSQL cannot run here: {error}")
    try:
        yield dsn
    finally:
        cluster.stop()


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Raises:
        PostgresUnavailable: none found.
    """
    candidates = []
    if env := os.environ.get("KV_PG_BINDIR"):
        candidates.append(Path(env))
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).parent)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    candidates.extend(reversed(debian))
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable(f"no PostgreSQL server programs found; {INSTALL_HINT}")


def free_port() -> int:
    """A port nobody listens on (free a moment ago; ``start`` retries a race)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


class TempCluster:
    """A PostgreSQL server of its own for a test session.

    ``start()`` returns a DSN for ``psycopg.connect``; ``stop()`` ends the
    server and deletes its files. Call them from one thread.
    """

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self._as_service_user = getattr(os, "geteuid", lambda: -1)() == 0
        if self._as_service_user:
            _check_service_user()
        self.root: Path | None = None
        self.port = 0
        self.log = ""  # the server's log, read at a failed start

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> str:
        """Make the cluster and start its server; return its DSN.

        Raises:
            PostgresUnavailable: initdb or the server failed (with its output).
        """
        self.root = Path(tempfile.mkdtemp(prefix="kv-pg-"))
        if self._as_service_user:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        self._run(
            "initdb", "-D", self.data, "-U", PG_USER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        for _ in range(START_TRIES):
            self.port = free_port()
            if self._start_server():
                return self.dsn()
        raise PostgresUnavailable(f"the server did not start:\n{self.log}")

    def dsn(self) -> str:
        """The libpq connection string of the running server."""
        return (
            f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres"
            " connect_timeout=10"
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster. Safe twice."""
        if self.root is None:
            return
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _start_server(self) -> bool:
        """Start ``postgres`` on ``self.port``; False if it did not come up."""
        log = self.root / "server.log"
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c max_connections=40 -c shared_buffers=16MB"
        )
        try:
            self._run(
                "pg_ctl", "-D", self.data, "-l", log, "-o", options, "-w", "start"
            )
            return True
        except PostgresUnavailable:
            self.log = log.read_text(errors="replace") if log.exists() else ""
            self._kill_leftover()
            return False

    def _kill_leftover(self) -> None:
        """End a server that wrote its pid file but did not come up in time."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def _run(self, program: str, *args: object) -> None:
        """Run one PostgreSQL program to its end, as the right user.

        Raises:
            PostgresUnavailable: it failed or timed out (with its output).
        """
        command = [str(self.bindir / program), *map(str, args)]
        who = {}
        if self._as_service_user:
            who = {"user": SERVICE_USER, "group": SERVICE_USER, "extra_groups": []}
        try:
            done = subprocess.run(
                command, cwd=self.root, capture_output=True, text=True,
                timeout=STEP_TIMEOUT, check=False, **who,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PostgresUnavailable(f"{program} failed: {error}") from error
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{program} exited {done.returncode}: {done.stdout}{done.stderr}"
            )


def _check_service_user() -> None:
    """Root cannot run PostgreSQL; make sure its service user exists."""
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVICE_USER!r} user to run"
            f" PostgreSQL as; {INSTALL_HINT}"
        ) from None
