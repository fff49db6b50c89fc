"""A correct server that breaks the course rules: one lock guards the shared state.

Written as a student who reaches for a mutex might. There is no coordinator:
each client's ``reader`` serves its own requests and calls the store
itself, and the client table, the departed clients and the count of them
are changed only by a thread that holds ``self.lock``. Each client has a
``writer`` that sends what its bounded ``outbox`` holds (a reply is dropped
when the outbox is full), and closes the connection once the reader is
done. ``acceptor`` accepts until close() sets ``stopping`` and wakes it; a
client whose threads cannot all start (the system is out of them) is logged
and disconnected alone. close() hangs up every client and joins every
thread.

It is correct: the lock orders every use of what it guards, and the partA
suites pass it (the ownership checker counts a lock's release and the next
acquire as a hand-over). It breaks the course rules, which forbid locks:
the rules check charges it (grading/submission/rules.py), and nothing else does.
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
QUIT = None  # on an outbox: the writer stops
FIELDS = {b"Put": 3, b"Get": 2, b"Delete": 2, b"Update": 4}

log = logging.getLogger(__name__)


class Client:
    def __init__(self, number: int, conn: socket.socket) -> None:
        self.number = number
        self.conn = conn
        self.outbox: queue.Queue = queue.Queue(MAX_OUTBOX + 1)  # and QUIT
        self.threads: list[threading.Thread] = []


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.clients: dict[int, Client] = {}  # under self.lock
        self.departed: list[Client] = []  # under self.lock: joined at close()
        self.dropped = 0  # under self.lock
        self.listener: socket.socket | None = None
        self.acceptor: threading.Thread | None = None
        self.stopping = threading.Event()
        self.closed = False

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listener is not None or self.closed:
            raise RuntimeError("start() may be called once, before close()")
        self.listener = socket.create_server((host, port), backlog=1024)
        self.acceptor = threading.Thread(target=self.accept, name="acceptor")
        self.acceptor.start()
        return self.listener.getsockname()[1]

    def count_active(self) -> int:
        self.check_running()
        with self.lock:
            return len(self.clients)

    def count_dropped(self) -> int:
        self.check_running()
        with self.lock:
            return self.dropped

    def check_running(self) -> None:
        if self.listener is None or self.closed:
            raise RuntimeError("the server is not running")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.listener is None:
            return
        self.stopping.set()
        with contextlib.suppress(OSError):  # wake the acceptor
            socket.create_connection(self.listener.getsockname()[:2], 1).close()
        self.acceptor.join()
        self.listener.close()
        with self.lock:
            clients = list(self.clients.values()) + self.departed
        for client in clients:
            with contextlib.suppress(OSError):  # closed already by its writer
                client.conn.shutdown(socket.SHUT_RDWR)
        for client in clients:
            for thread in client.threads:
                thread.join()

    # The threads.

    def accept(self) -> None:
        number = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            if self.stopping.is_set():
                conn.close()
                return
            number += 1
            self.admit(Client(number, conn))

    def admit(self, client: Client) -> None:
        """Start the client's writer, then its reader; if the system has no
        thread to spare, this client alone is disconnected."""
        with self.lock:
            self.clients[client.number] = client
        for role, work in (("writer", self.write), ("reader", self.read)):
            name = f"{role}-{client.number}"
            thread = threading.Thread(target=work, args=(client,), name=name)
            try:
                thread.start()
            except RuntimeError as error:  # out of threads
                number = client.number
                log.warning("client %d: cannot start %s: %s", number, name, error)
                break
            client.threads.append(thread)
        if len(client.threads) == 2:
            return
        with self.lock:  # the reader never ran: its goodbye, here
            del self.clients[client.number]
            self.departed.append(client)
            self.dropped += 1
        if client.threads:  # the writer runs: it closes the connection
            client.outbox.put(QUIT)
        else:
            client.conn.close()

    def read(self, client: Client) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while data := client.conn.recv(65536):
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    self.serve(client, line.removesuffix(b"\r"))
                if len(pending) > MAX_LINE:
                    pending = b""  # a line too long: dropped
        with self.lock:
            del self.clients[client.number]
            self.departed.append(client)
            self.dropped += 1
        client.outbox.put(QUIT)

    def write(self, client: Client) -> None:
        sending = True
        while (reply := client.outbox.get()) is not QUIT:
            if sending:
                try:
                    client.conn.sendall(reply)
                except OSError:
                    sending = False  # gone: drain the outbox until QUIT
        client.conn.close()

    def serve(self, client: Client, line: bytes) -> None:
        fields = line.split(b":")
        if len(line) > MAX_LINE or FIELDS.get(fields[0]) != len(fields):
            return
        try:
            key = fields[1].decode("utf-8")
        except UnicodeDecodeError:
            return
        with self.lock:
            if fields[0] == b"Get":
                values = self.store.get(key)
            elif fields[0] == b"Put":
                self.store.put(key, fields[2])
            elif fields[0] == b"Delete":
                self.store.delete(key)
            else:
                self.store.update(key, fields[2], fields[3])
        if fields[0] == b"Get":
            for value in values:
                if client.outbox.qsize() < MAX_OUTBOX:  # only this reader puts
                    client.outbox.put_nowait(fields[1] + b":" + value + b"\n")
