"""A "student-style" naive P0 server: threads and queues, nothing batched.

Usage: ``python benchmarks/servers/naive_server.py [--port 9999]`` (0 picks a
free port; the line printed at start says which one).

Theory of operation
-------------------
The minimal CSP design a student writes first (perf-anchors §C(a)), kept as
a measuring point: the kit's design without its batching.

* The main thread accepts (listen backlog 1024, TCP_NODELAY on) and starts a
  ``reader-N`` and a ``writer-N`` thread for each client.
* ``reader-N`` reads one line at a time (``makefile``) and posts ONE message
  per line, ``(line, outbox)``, on ``inbox``, an unbounded ``queue.Queue``.
* ``coordinator`` is the only thread that touches ``store``. It serves
  ``inbox`` in order; a Get puts one reply per value on the client's
  ``outbox`` (``queue.Queue(MAX_OUTBOX)``) and drops it when that is full.
* ``writer-N`` takes one reply at a time and sends it with its own
  ``sendall``.

When a client closes, its reader shuts the socket down and posts the writer's
sentinel (making room for it if the outbox is full); the writer then closes
the socket. No locks: queues only. A measuring instrument, not a lesson in
shutting down: the threads are daemons, and SIGINT or SIGTERM simply ends the
process (partA/server.py shows a ``close()`` that joins every thread).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import queue
import signal
import socket
import sys
import threading

MAX_OUTBOX = 500  # replies that may wait for one client; more are dropped
LISTEN_BACKLOG = 1024
STOP_WRITER = None  # the outbox sentinel: "the client has gone, end now"

Outbox = queue.Queue  # of reply lines, then STOP_WRITER


def coordinator(inbox: queue.Queue) -> None:
    """Own the store; apply each ``(line, outbox)`` message in order."""
    store: dict[bytes, list[bytes]] = {}
    while True:
        line, outbox = inbox.get()
        op, _, rest = line.partition(b":")
        fields = rest.split(b":")
        if op == b"Put" and len(fields) == 2:
            store.setdefault(fields[0], []).append(fields[1])
        elif op == b"Get" and len(fields) == 1:
            for value in store.get(fields[0], ()):
                with contextlib.suppress(queue.Full):
                    outbox.put_nowait(fields[0] + b":" + value + b"\n")
        elif op == b"Delete" and len(fields) == 1:
            store.pop(fields[0], None)
        elif op == b"Update" and len(fields) == 3:
            key, old, new = fields
            values = store.setdefault(key, [])
            if old in values:
                values.remove(old)  # the first equal value only
            values.append(new)


def reader(conn: socket.socket, inbox: queue.Queue, outbox: Outbox) -> None:
    """Post every complete line of ``conn``; on EOF, stop the writer."""
    with contextlib.suppress(OSError), conn.makefile("rb") as lines:
        for line in lines:
            if line.endswith(b"\n"):  # an unfinished last line is not executed
                inbox.put((line[:-1].removesuffix(b"\r"), outbox))
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)  # wakes a writer blocked in sendall
    while True:
        try:
            outbox.put_nowait(STOP_WRITER)
            return
        except queue.Full:  # make room: the client is gone anyway
            with contextlib.suppress(queue.Empty):
                outbox.get_nowait()


def writer(conn: socket.socket, outbox: Outbox) -> None:
    """Send replies one ``sendall`` each until the sentinel; close ``conn``."""
    while (reply := outbox.get()) is not STOP_WRITER:
        with contextlib.suppress(OSError):  # the reader sees the break too
            conn.sendall(reply)
    conn.close()


def serve(listener: socket.socket) -> None:
    """Accept forever: per client, one reader and one writer thread."""
    inbox: queue.Queue = queue.Queue()  # unbounded, one message per line
    threading.Thread(
        target=coordinator, args=(inbox,), name="coordinator", daemon=True
    ).start()
    for n in itertools.count(1):
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        outbox: Outbox = queue.Queue(MAX_OUTBOX)
        threading.Thread(
            target=reader, args=(conn, inbox, outbox), name=f"reader-{n}", daemon=True
        ).start()
        threading.Thread(
            target=writer, args=(conn, outbox), name=f"writer-{n}", daemon=True
        ).start()


def main() -> int:
    parser = argparse.ArgumentParser(description="A naive threaded P0 server.")
    parser.add_argument("--port", type=int, default=9999, help="0 picks a free port")
    port = parser.parse_args().port
    for signum in (signal.SIGINT, signal.SIGTERM):  # both end it as Ctrl-C does
        signal.signal(signum, signal.default_int_handler)
    listener = socket.create_server(("127.0.0.1", port), backlog=LISTEN_BACKLOG)
    print(
        f"naive server listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True
    )
    try:
        serve(listener)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
