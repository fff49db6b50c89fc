"""A plain asyncio server for the P0 protocol: the yardstick for partA.

Usage: ``python benchmarks/servers/asyncio_server.py [--port 9999]`` (0 picks
a free port; the line printed at start says which one).

Theory of operation
-------------------
One thread runs one event loop. ``asyncio.start_server`` (backlog 1024, so
1000 clients can connect at once) runs ``serve_client`` for each connection:
it reads lines with ``readline`` and applies each to ``STORE``, a dict of
lists. Only one coroutine runs at a time and none awaits while it touches the
store, so the loop is the store's one owner and no lock is needed.

The bound on pending replies: each client has an ``outbox``, an
``asyncio.Queue(MAX_OUTBOX)``, and a writer task that takes one reply at a
time, writes it and awaits ``drain()``. A Get reply (one line per value) that
finds the outbox full is dropped, so a client that never reads loses its own
replies and slows nobody: the kit's ``MAX_OUTBOX`` rule, one reply a line.

Bad input gets no reply: unknown commands and wrong field counts are skipped;
a line over the 64 KiB limit ends that connection; an unfinished last line is
not executed. SIGINT or SIGTERM stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

MAX_OUTBOX = 500  # replies that may wait for one client; more are dropped
LISTEN_BACKLOG = 1024
LINE_LIMIT = 64 * 1024

STORE: dict[bytes, list[bytes]] = {}  # key -> values; owned by the event loop


def handle(line: bytes, outbox: asyncio.Queue[bytes]) -> None:
    """Apply one request line (without its terminator) to ``STORE``."""
    op, _, rest = line.partition(b":")
    fields = rest.split(b":")
    if op == b"Put" and len(fields) == 2:
        STORE.setdefault(fields[0], []).append(fields[1])
    elif op == b"Get" and len(fields) == 1:
        for value in STORE.get(fields[0], ()):
            reply(outbox, fields[0] + b":" + value + b"\n")
    elif op == b"Delete" and len(fields) == 1:
        STORE.pop(fields[0], None)
    elif op == b"Update" and len(fields) == 3:
        key, old, new = fields
        values = STORE.setdefault(key, [])
        if old in values:
            values.remove(old)  # the first equal value only
        values.append(new)


def reply(outbox: asyncio.Queue[bytes], line: bytes) -> None:
    """Queue ``line`` for the client, or drop it if its outbox is full."""
    with contextlib.suppress(asyncio.QueueFull):
        outbox.put_nowait(line)


async def write_replies(
    outbox: asyncio.Queue[bytes], writer: asyncio.StreamWriter
) -> None:
    """The client's writer task: send replies in order until cancelled."""
    while True:
        writer.write(await outbox.get())
        await writer.drain()


async def serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one connection until the peer closes it or it breaks."""
    outbox: asyncio.Queue[bytes] = asyncio.Queue(MAX_OUTBOX)
    sender = asyncio.create_task(write_replies(outbox, writer))
    try:
        while (line := await reader.readline()).endswith(b"\n"):
            handle(line[:-1].removesuffix(b"\r"), outbox)
    except (ConnectionError, ValueError):  # ValueError: a line over LINE_LIMIT
        pass
    finally:
        sender.cancel()
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(
        serve_client, "127.0.0.1", port, backlog=LISTEN_BACKLOG, limit=LINE_LIMIT
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"asyncio server listening on 127.0.0.1:{bound}", flush=True)
    await stop.wait()
    server.close()  # asyncio.run then cancels every client's tasks


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A plain asyncio P0 server.")
    parser.add_argument("--port", type=int, default=9999, help="0 picks a free port")
    asyncio.run(main(parser.parse_args().port))
