"""KeyValueServer (P0 part A).

* ``gate`` accepts clients. For each it starts ``rd-N`` (reads requests)
  and ``wr-N`` (writes replies), tells ``central`` about the client, and
  keeps the two threads in ``self.workers`` so that close() can join them.
* ``central`` is the only thread that uses the store, the client table
  and the counters. Readers post lines to it; it puts replies in the
  client's outbox without waiting (a full outbox drops the reply).
* A client that leaves: its reader posts ``gone``; central takes it out of
  the table, counts it, and puts ``None`` in its outbox, which tells the
  writer to close the socket and end.

close(): stop the gate (Event + shutdown of the listening socket), then
tell central to stop; central shuts every client socket down, which wakes
the readers. Then close() joins the gate, central and every worker.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading

from partA.kvstore import KVStore

MAX_OUTBOX = 500
MAX_LINE = 64 * 1024

log = logging.getLogger(__name__)


class Member:
    """A connected client, as central knows it."""

    def __init__(self, conn: socket.socket, outbox: queue.Queue) -> None:
        self.conn = conn
        self.outbox = outbox


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.inbox: queue.Queue = queue.Queue()
        self.closing = threading.Event()
        self.listen_sock: socket.socket | None = None
        self.gate: threading.Thread | None = None
        self.central: threading.Thread | None = None
        self.workers: list[threading.Thread] = []  # the gate's, until it ends
        self.closed = False
        self.members: dict[int, Member] = {}  # central's
        self.dropped = 0  # central's

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listen_sock is not None or self.closed:
            raise RuntimeError("already started (or closed)")
        self.listen_sock = socket.create_server((host, port), backlog=1024)
        self.central = threading.Thread(target=self.run_central, name="central")
        self.gate = threading.Thread(target=self.run_gate, name="gate")
        self.central.start()
        self.gate.start()
        return self.listen_sock.getsockname()[1]

    def count_active(self) -> int:
        return self.request_count("active")

    def count_dropped(self) -> int:
        return self.request_count("dropped")

    def request_count(self, which: str) -> int:
        if self.listen_sock is None or self.closed:
            raise RuntimeError("server not running")
        reply: queue.Queue = queue.Queue()
        self.inbox.put(("count", which, reply))
        return reply.get()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.listen_sock is None:
            return
        self.closing.set()
        with contextlib.suppress(OSError):
            self.listen_sock.shutdown(socket.SHUT_RDWR)
        self.gate.join()
        self.listen_sock.close()
        self.inbox.put(("stop", None, None))
        self.central.join()
        for worker in self.workers:
            worker.join()

    def run_gate(self) -> None:
        n = 0
        while True:
            try:
                conn, _ = self.listen_sock.accept()
            except OSError:
                if self.closing.is_set():
                    return
                continue
            n += 1
            outbox: queue.Queue = queue.Queue(MAX_OUTBOX + 1)  # +1: the None
            self.inbox.put(("join", n, Member(conn, outbox)))
            reader = threading.Thread(target=self.read, args=(n, conn), name=f"rd-{n}")
            writer = threading.Thread(
                target=self.write, args=(conn, outbox), name=f"wr-{n}"
            )
            reader.start()
            writer.start()
            self.workers += [reader, writer]

    def read(self, n: int, conn: socket.socket) -> None:
        data = b""
        while True:
            try:
                more = conn.recv(8192)
            except OSError:
                more = b""
            if not more:
                break
            data += more
            lines = data.split(b"\n")
            data = lines.pop()
            for line in lines:
                self.inbox.put(("line", n, line.rstrip(b"\r")))
            if len(data) > MAX_LINE + 1:
                log.warning("client %d: line too long, skipped", n)
                data = b""
        self.inbox.put(("gone", n, None))

    def write(self, conn: socket.socket, outbox: queue.Queue) -> None:
        while True:
            reply = outbox.get()
            if reply is None:
                break
            try:
                conn.sendall(reply)
            except OSError:
                continue
        conn.close()

    def run_central(self) -> None:
        while True:
            kind, n, data = self.inbox.get()
            if kind == "stop":
                for member in self.members.values():
                    with contextlib.suppress(OSError):
                        member.conn.shutdown(socket.SHUT_RDWR)
                return
            if kind == "join":
                self.members[n] = data
            elif kind == "line" and n in self.members:
                self.handle(self.members[n], n, data)
            elif kind == "gone" and n in self.members:
                self.members.pop(n).outbox.put_nowait(None)
                self.dropped += 1
            elif kind == "count":
                data.put(len(self.members) if n == "active" else self.dropped)

    def handle(self, member: Member, n: int, line: bytes) -> None:
        parts = line.split(b":")
        try:
            key = parts[1].decode("utf-8") if len(parts) > 1 else ""
        except UnicodeDecodeError:
            key = ""
        if len(line) > MAX_LINE or not key:
            log.warning("client %d: skipped %r", n, line[:40])
        elif parts[0] == b"Put" and len(parts) == 3:
            self.store.put(key, parts[2])
        elif parts[0] == b"Get" and len(parts) == 2:
            for value in self.store.get(key):
                if member.outbox.qsize() < MAX_OUTBOX:
                    member.outbox.put_nowait(parts[1] + b":" + value + b"\n")
        elif parts[0] == b"Delete" and len(parts) == 2:
            self.store.delete(key)
        elif parts[0] == b"Update" and len(parts) == 4:
            self.store.update(key, parts[2], parts[3])
        else:
            log.warning("client %d: skipped %r", n, line[:40])
