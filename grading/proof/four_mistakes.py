"""A first server with four classic mistakes, as a student writes one.

Instructor-only (never in the student handout). Not a mutant of the
reference: written from scratch, the way a first attempt reads, with a
reader and a writer thread per client and no coordinator. Its mistakes:

1. Readers touch the store: each reader runs its client's requests on the
   shared, not thread-safe store itself.
2. close() sleeps instead of joining: it closes every socket, then waits a
   moment and hopes the threads have ended.
3. A counter shared without messages: readers count their departures in
   ``self.dropped`` themselves (and the accept thread writes ``self.active``).
4. A blocking put on the outbox: a reader waits for room in its client's
   full outbox, so a client that does not read stops being read.

``grading/tests/test_four_mistakes.py`` checks that the suites list these as one
list of distinct problems, the same in every test.
"""

from __future__ import annotations

import queue
import socket
import threading
import time

from partA.kvstore import KVStore

MAX_OUTBOX = 500


class _Client:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.outbox: queue.Queue[bytes | None] = queue.Queue(MAX_OUTBOX)


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.listener: socket.socket | None = None
        self.clients: list[_Client] = []
        self.active = 0
        self.dropped = 0
        self.closed = False

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listener is not None or self.closed:
            raise RuntimeError("already started")
        self.listener = socket.create_server((host, port))
        threading.Thread(target=self.accept, name="accept").start()
        return self.listener.getsockname()[1]

    def count_active(self) -> int:
        return self.active

    def count_dropped(self) -> int:
        return self.dropped

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.listener is not None:
            self.listener.close()
        for client in list(self.clients):
            client.conn.close()
            client.outbox.put(None)
        time.sleep(0.5)  # mistake 2: the threads have surely ended by now

    def accept(self) -> None:
        n = 0
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            client = _Client(conn)
            self.clients.append(client)
            self.active += 1
            threading.Thread(
                target=self.read, args=(client,), name=f"reader-{n}"
            ).start()
            threading.Thread(
                target=self.write, args=(client,), name=f"writer-{n}"
            ).start()
            n += 1

    def read(self, client: _Client) -> None:
        rest = b""
        while True:
            try:
                data = client.conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            *lines, rest = (rest + data).split(b"\n")
            for line in lines:
                self.handle(client, line.removesuffix(b"\r"))
        self.active -= 1
        self.dropped += 1  # mistake 3: readers share the counters
        client.outbox.put(None)

    def handle(self, client: _Client, line: bytes) -> None:
        parts = line.split(b":")
        key = parts[1].decode() if len(parts) > 1 else ""
        if parts[0] == b"Put" and len(parts) == 3:
            self.store.put(key, parts[2])  # mistake 1: readers touch the store
        elif parts[0] == b"Delete" and len(parts) == 2:
            self.store.delete(key)
        elif parts[0] == b"Update" and len(parts) == 4:
            self.store.update(key, parts[2], parts[3])
        elif parts[0] == b"Get" and len(parts) == 2:
            for value in self.store.get(key):
                client.outbox.put(parts[1] + b":" + value + b"\n")  # mistake 4

    def write(self, client: _Client) -> None:
        while (reply := client.outbox.get()) is not None:
            try:
                client.conn.sendall(reply)
            except OSError:
                return
