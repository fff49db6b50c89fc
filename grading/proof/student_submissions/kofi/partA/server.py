"""KV server for P0.

Design: a coordinator thread does all the store work. Every client gets a
reader thread (reads lines, sends them to the coordinator) and a writer
thread (sends the replies from its outbox). The accept thread makes the
client objects.

The connection counters are plain ints: the accept thread adds one when a
client connects, and the client's reader moves it from active to dropped
when the client goes. count_active() and count_dropped() just return them,
so they never have to wait for the coordinator.
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

QUIT = "quit"


class Client:
    def __init__(self, cid: int, conn: socket.socket) -> None:
        self.cid = cid
        self.conn = conn
        self.outbox: queue.Queue = queue.Queue(maxsize=MAX_OUTBOX)
        self.reader: threading.Thread | None = None
        self.writer: threading.Thread | None = None


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.requests: queue.Queue = queue.Queue()
        self.stop_event = threading.Event()
        self.server_socket: socket.socket | None = None
        self.accept_thread: threading.Thread | None = None
        self.coordinator: threading.Thread | None = None
        self.closed = False
        self.active = 0
        self.dropped = 0

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.server_socket is not None or self.closed:
            raise RuntimeError("already started")
        self.server_socket = socket.create_server((host, port), backlog=256)
        self.coordinator = threading.Thread(target=self.coordinate, name="coordinator")
        self.accept_thread = threading.Thread(target=self.accept_loop, name="accept")
        self.coordinator.start()
        self.accept_thread.start()
        return self.server_socket.getsockname()[1]

    def count_active(self) -> int:
        if self.server_socket is None or self.closed:
            raise RuntimeError("not running")
        return self.active

    def count_dropped(self) -> int:
        if self.server_socket is None or self.closed:
            raise RuntimeError("not running")
        return self.dropped

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.server_socket is None:
            return
        self.stop_event.set()
        with contextlib.suppress(OSError):
            self.server_socket.shutdown(socket.SHUT_RDWR)
        self.accept_thread.join()
        self.server_socket.close()
        self.requests.put((QUIT, None, None))
        self.coordinator.join()

    def accept_loop(self) -> None:
        cid = 0
        while True:
            try:
                conn, _ = self.server_socket.accept()
            except OSError:
                if self.stop_event.is_set():
                    return
                continue
            cid += 1
            client = Client(cid, conn)
            self.active += 1
            self.requests.put(("join", client, None))

    def read_loop(self, client_id: int, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self.requests.put(("line", client_id, line.rstrip(b"\r")))
                if len(buffer) > MAX_LINE + 1:
                    log.warning("client %d sent a line that is too long", client_id)
                    buffer = b""
        finally:
            self.active -= 1
            self.dropped += 1
            self.requests.put(("leave", client_id, None))

    def write_loop(self, conn: socket.socket, outbox: queue.Queue) -> None:
        while True:
            data = outbox.get()
            if data is QUIT:
                break
            with contextlib.suppress(OSError):
                conn.sendall(data)
        conn.close()

    def coordinate(self) -> None:
        clients: dict[int, Client] = {}
        while True:
            kind, who, data = self.requests.get()
            if kind == QUIT:
                break
            if kind == "join":
                self.add_client(clients, who)
            elif kind == "line" and who in clients:
                self.execute(clients[who], data)
            elif kind == "leave" and who in clients:
                client = clients.pop(who)
                client.reader.join()
                self.stop_writer(client)
        for client in clients.values():
            with contextlib.suppress(OSError):
                client.conn.shutdown(socket.SHUT_RDWR)
            self.stop_writer(client)
            client.reader.join()

    def add_client(self, clients: dict[int, Client], client: Client) -> None:
        client.reader = threading.Thread(
            target=self.read_loop,
            args=(client.cid, client.conn),
            name=f"reader-{client.cid}",
        )
        client.writer = threading.Thread(
            target=self.write_loop,
            args=(client.conn, client.outbox),
            name=f"writer-{client.cid}",
        )
        client.reader.start()
        client.writer.start()
        clients[client.cid] = client

    def stop_writer(self, client: Client) -> None:
        while True:  # make room for the QUIT marker
            try:
                client.outbox.put_nowait(QUIT)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    client.outbox.get_nowait()
        client.writer.join()

    def execute(self, client: Client, line: bytes) -> None:
        if len(line) > MAX_LINE:
            log.warning("client %d: line too long, skipped", client.cid)
            return
        parts = line.split(b":")
        try:
            key = parts[1].decode() if len(parts) > 1 else ""
        except UnicodeDecodeError:
            key = ""
        if not key:
            log.warning("client %d: bad request %r", client.cid, line[:50])
        elif parts[0] == b"Put" and len(parts) == 3:
            self.store.put(key, parts[2])
        elif parts[0] == b"Get" and len(parts) == 2:
            for value in self.store.get(key):
                with contextlib.suppress(queue.Full):  # slow client: drop it
                    client.outbox.put_nowait(parts[1] + b":" + value + b"\n")
        elif parts[0] == b"Delete" and len(parts) == 2:
            self.store.delete(key)
        elif parts[0] == b"Update" and len(parts) == 4:
            self.store.update(key, parts[2], parts[3])
        else:
            log.warning("client %d: bad request %r", client.cid, line[:50])
