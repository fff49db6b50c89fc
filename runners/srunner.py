"""Run the key-value server from the command line, for demos and ``nc``.

Usage: ``python runners/srunner.py [--host 127.0.0.1] [--port 9999]``
(or ``python -m runners.srunner``). ``--port 0`` picks a free port; the line
printed at start says which one.
.. BEGIN PARTC

With partC (a course hands it out as the next exercise), two more options:
``--server partA|partC`` picks the server, partA's (the default) or partC's
(List, notifications, transactions), and ``--store
memory|sqlite:PATH|postgres:DSN`` picks where it keeps its data: ``memory``
(the default; nothing survives a stop), a SQLite file, or a PostgreSQL
database (see ``partC/stores.py``; PostgreSQL needs psycopg). A durable
store keeps everything across restarts. partC's server flushes the store
before every reply that follows a change, so a change is on disk once any
later reply has been sent on its connection; partA's server never calls
``flush``, so with it the store commits each change as it is made (srunner
says so on stderr): either way, a killed srunner loses no change that a
client has seen acknowledged. Without partC, those options are not listed,
and using them says why they cannot be used.
.. END PARTC

Theory of operation
-------------------
The main thread builds the server, starts it, prints where it listens, and
then only waits for SIGINT (Ctrl-C) or SIGTERM. The server's own threads do
all the serving. When a stop signal comes, the main thread reads the counts
(they raise once the server is closed), closes the server, which joins every
thread it started, and prints the counts.

The signal handlers are installed before the server starts, so a signal can
never land in the middle of ``start()`` and leave its threads running. They
hand the signal over on a ``queue.SimpleQueue``, not a ``threading.Event``:
a handler runs on the main thread between two bytecodes, possibly while that
thread holds the Event's internal lock inside ``wait()``, and ``Event.set()``
would then wait for itself forever. ``SimpleQueue.put`` is documented as
reentrant, so it is safe there. After the first signal the handlers are
reset to the default, so a second Ctrl-C ends the process at once, even if
``close()`` of an unfinished server never returns.

The main thread waits for the signal in short turns (``WAKE_SECONDS``), not
in one blocking ``get()``. The system may hand a process's signal to any of
its threads, and while the server's threads are starting threads (clients
connecting) one of them sometimes takes it: Python's handler then runs only
when the main thread next runs Python code, and a main thread blocked for
good in ``get()`` never does. With that wait, srunner ignored SIGINT in 5
to 9 of 100 tries that sent it while 30 clients connected
(``runners/test_runners.py`` has the test). On Windows, before Python
3.14, a blocking wait ignores Ctrl-C too.

The counts and ``close()`` run in a thread of their own (``close()``), which
the main thread waits for ``CLOSE_SECONDS``. A server whose ``close()`` hangs
(a thread that waits for something that never comes) then does not hang the
demo: srunner prints where each of the server's threads waits
(``partA/framework/waits.py``, the same report the suites give) and exits with 1.

Warnings the server logs (bad input it skipped, for example) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
from pathlib import Path
from typing import Any

# Run as a script, Python puts runners/ on sys.path, not the folder above it
# that holds partA; this line makes ``import partA`` work from any directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from partA.kvstore import InMemoryKVStore, KVStore
from runners.cli import add_address_options, partc_ships

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAKE_SECONDS = 0.5  # see wait_for_stop_signal
CLOSE_SECONDS = 5.0  # how long the counts and close() may take, then a report


SERVERS = ("partA", "partC")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="srunner", description="Run the key-value server until Ctrl-C."
    )
    add_address_options(parser, port_help="0 picks a free port; default: %(default)s")
    partC = partc_ships()
    parser.add_argument(
        "--server",
        default="partA",
        help="partA or partC; default: %(default)s" if partC else argparse.SUPPRESS,
    )
    parser.add_argument(
        "--store",
        type=store_spec if partC else str,
        default="memory",
        metavar="SPEC",
        help="memory, sqlite:PATH or postgres:DSN; default: %(default)s"
        if partC
        else argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if not partC and (args.server, args.store) != ("partA", "memory"):
        used = f"--server {args.server}" if args.server != "partA" else "--store"
        parser.error(
            f"{used} needs partC (its server and its stores), and this copy of "
            f"the kit has no partC/ folder: your course hands partC out as the "
            f"next exercise. Without it, srunner runs partA's server in memory."
        )
    if args.server not in SERVERS:
        parser.error(f"argument --server: choose from {', '.join(SERVERS)}")
    return args


def store_spec(text: str) -> str:
    """Check a ``--store`` spec before anything is opened; argparse reports errors."""
    from partC.stores import BadStoreSpec, parse_store_spec

    try:
        parse_store_spec(text)
    except BadStoreSpec as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def make_store(args: argparse.Namespace) -> KVStore:
    """Build the store that ``--store`` names, for the server ``--server`` names.

    partA's server with ``memory`` gets partA's ``InMemoryKVStore``, as
    always; everything else comes from ``partC.stores.make_store``.
    """
    if args.server == "partA" and args.store == "memory":
        return InMemoryKVStore()
    from partC.stores import make_store as make_partc_store

    # partA's server never calls flush(): its store commits each change.
    return make_partc_store(args.store, each_change=args.server == "partA")


def server_class(name: str) -> type:
    """The ``KeyValueServer`` class of ``name`` (partA or partC)."""
    if name == "partC":
        from partC.server import KeyValueServer
    else:
        from partA.server import KeyValueServer
    return KeyValueServer


def install_stop_handlers() -> queue.SimpleQueue[int]:
    """Route SIGINT and SIGTERM to the returned queue (see the module notes)."""
    stop_signals: queue.SimpleQueue[int] = queue.SimpleQueue()

    def on_stop_signal(signum: int, frame: object) -> None:
        stop_signals.put(signum)
        for each in STOP_SIGNALS:  # a second one ends the process at once
            signal.signal(each, signal.SIG_DFL)

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_stop_signal)
    return stop_signals


def wait_for_stop_signal(stop_signals: queue.SimpleQueue[int]) -> int:
    """Block until a stop signal arrives; return its number.

    The wait wakes up every ``WAKE_SECONDS`` to let the handler run, should
    another thread have taken the signal (see the module notes).
    """
    while True:
        try:
            return stop_signals.get(timeout=WAKE_SECONDS)
        except queue.Empty:
            continue


def serve(server: Any, host: str, port: int) -> int:
    """Start ``server``, run it until a stop signal, close it; return 0 or 1."""
    stop_signals = install_stop_handlers()
    try:
        port = server.start(port, host)
    except OSError as error:
        print(f"srunner: cannot listen on {host}:{port}: {why(error)}", file=sys.stderr)
        return 1
    shown_host = f"[{host}]" if ":" in host else host
    print(f"KeyValueServer listening on {shown_host}:{port} (Ctrl-C to stop)")
    sys.stdout.flush()  # whoever reads us through a pipe waits for this line
    signum = wait_for_stop_signal(stop_signals)
    print(f"{signal.Signals(signum).name} received: closing the server", flush=True)
    closed: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
    closer = threading.Thread(
        target=lambda: closed.put(count_and_close(server)), name="close()", daemon=True
    )
    closer.start()
    try:
        active, dropped = closed.get(timeout=CLOSE_SECONDS)
    except queue.Empty:
        return report_hang(server)
    print(f"Server closed. Clients active at close: {active}; dropped: {dropped}.")
    return 0


def count_and_close(server: Any) -> tuple[int, int]:
    """The counts at the stop, then ``close()``."""
    counts = server.count_active(), server.count_dropped()
    server.close()
    return counts


def report_hang(server: Any) -> int:
    """Say where the server's threads wait, and end the process (exit code 1):
    threads that never end would keep it running."""
    from partA.framework import waits

    threads = [t for t in threading.enumerate() if t is not threading.main_thread()]
    print(
        f"srunner: the server did not close within {CLOSE_SECONDS:.0f} s: its "
        "close() (or a count) waits for something that never comes\n"
        + (waits.report(server, threads) or "(no thread of the server is alive)"),
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(1)


def why(error: OSError) -> str:
    """The system's short reason for ``error``, without the call's details."""
    if error.errno and error.errno > 0:  # getaddrinfo's errors are negative
        return os.strerror(error.errno)  # "Address already in use"
    return error.strerror or str(error)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        store = make_store(args)
    except Exception as error:  # sqlite3.Error, psycopg.Error, ImportError...
        print(f"srunner: cannot open the store {args.store}: {error}", file=sys.stderr)
        return 1
    try:
        return run_server(args, store)
    finally:
        close_store(store)


def run_server(args: argparse.Namespace, store: KVStore) -> int:
    """Build the server ``args`` name on ``store`` and serve until stopped."""
    if args.server == "partA" and args.store != "memory":
        print(
            "srunner: note: partA's server never calls flush(), so the store"
            " commits each change as it is made (--server partC commits a batch"
            " of requests at a time, before the reply that follows it)",
            file=sys.stderr,
        )
    try:
        server = server_class(args.server)(store)
        return serve(server, args.host, args.port)
    except NotImplementedError as error:  # the student's stub, not written yet
        print(
            f"srunner: {args.server}/server.py is not finished"
            f" (NotImplementedError: {error})",
            file=sys.stderr,
        )
        return 1


def close_store(store: KVStore) -> None:
    """Close a store that can be closed (a durable one commits what is pending)."""
    close = getattr(store, "close", None)
    if close is not None:
        close()


if __name__ == "__main__":
    sys.exit(main())
