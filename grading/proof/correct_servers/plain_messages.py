"""A correct server of the plainest shape students write: one message a request.

Written apart from the reference (issue 24's soak): the acceptor starts a
reader for each client and the reader starts that client's writer; every
request line goes to the coordinator as a message of its own, on an
unbounded inbox; the coordinator owns the store, the client table and the
counts, and drops a reply when the client's outbox holds 500. Nothing is
batched, so under load or ``--stress`` the coordinator falls far behind its
readers: the suites must wait for it as long as it works, and pass it.

Who joins whom: close() joins the acceptor (which started the readers) and
the coordinator, then every reader; each reader joins the writer it started.
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
STOP = object()  # the last item of an outbox; also the coordinator's

log = logging.getLogger(__name__)


class Client:
    """One connection. The coordinator owns ``outbox`` puts; the writer gets."""

    def __init__(self, number: int, conn: socket.socket) -> None:
        self.number = number
        self.conn = conn
        self.outbox: queue.Queue = queue.Queue(MAX_OUTBOX)


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.inbox: queue.Queue = queue.Queue()
        self.listener: socket.socket | None = None
        self.readers: list[threading.Thread] = []  # the acceptor's, then close()'s
        self.helpers: list[threading.Thread] = []  # close()'s: acceptor, coordinator
        self.done = False

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listener is not None or self.done:
            raise RuntimeError("already started, or closed")
        self.listener = socket.create_server((host, port), backlog=1024)
        for target, name in ((self.coordinate, "coordinator"), (self.accept, "accept")):
            thread = threading.Thread(target=target, name=name)
            thread.start()
            self.helpers.append(thread)
        return self.listener.getsockname()[1]

    def count_active(self) -> int:
        return self.ask("active")

    def count_dropped(self) -> int:
        return self.ask("dropped")

    def ask(self, what: str) -> int:
        if self.done:
            raise RuntimeError("the server is closed")
        answer: queue.Queue = queue.Queue(1)
        self.inbox.put((what, None, answer))
        return answer.get()

    def close(self) -> None:
        if self.done or self.listener is None:
            self.done = True
            return
        self.done = True
        coordinator, acceptor = self.helpers
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        acceptor.join()  # no reader starts after this
        self.inbox.put(("close", None, None))
        coordinator.join()  # every connection shut down, every outbox stopped
        for reader in self.readers:
            reader.join()

    # ----- the acceptor ------------------------------------------------------

    def accept(self) -> None:
        number = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # close() shut the listener down
            client = Client(number, conn)
            number += 1
            self.inbox.put(("join", client, None))
            self.admit(client)

    def admit(self, client: Client) -> None:
        """Start the client's reader (which starts its writer)."""
        reader = threading.Thread(
            target=self.read, args=(client,), name=f"reader-{client.number}"
        )
        try:
            reader.start()
        except RuntimeError as error:  # out of threads
            log.warning("client %d: cannot start its reader: %s", client.number, error)
            self.inbox.put(("leave", client, None))
            client.conn.close()
            return
        self.readers.append(reader)

    # ----- a client's reader and writer -------------------------------------

    def read(self, client: Client) -> None:
        writer = threading.Thread(
            target=self.write, args=(client,), name=f"writer-{client.number}"
        )
        try:
            writer.start()
        except RuntimeError as error:
            log.warning("client %d: cannot start its writer: %s", client.number, error)
            writer = None
        if writer is not None:
            self.read_lines(client)
        self.inbox.put(("leave", client, None))
        if writer is not None:
            writer.join()
        client.conn.close()

    def read_lines(self, client: Client) -> None:
        pending = b""
        while True:
            try:
                data = client.conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if len(line.removesuffix(b"\r")) > MAX_LINE:
                    log.warning("client %d: skipped a long line", client.number)
                    continue
                self.inbox.put(("line", client, line.removesuffix(b"\r")))
            if len(pending) > MAX_LINE:
                log.warning("client %d: a line over %d bytes", client.number, MAX_LINE)
                pending = b""  # and the rest of it is read as a bad line

    def write(self, client: Client) -> None:
        broken = False
        while (reply := client.outbox.get()) is not STOP:
            if broken:
                continue  # drain, so the coordinator's STOP finds room
            try:
                client.conn.sendall(reply)
            except OSError:
                broken = True

    # ----- the coordinator ---------------------------------------------------

    def coordinate(self) -> None:
        clients: dict[int, Client] = {}
        dropped = 0
        while True:
            kind, client, data = self.inbox.get()
            if kind == "line":
                if client.number in clients:
                    self.handle(client, data)
            elif kind == "join":
                clients[client.number] = client
            elif kind == "leave":
                if clients.pop(client.number, None) is not None:
                    dropped += 1
                    stop(client)
            elif kind in ("active", "dropped"):
                data.put(len(clients) if kind == "active" else dropped)
            elif kind == "close":
                for each in clients.values():
                    with contextlib.suppress(OSError):
                        each.conn.shutdown(socket.SHUT_RDWR)
                    stop(each)
                return

    def handle(self, client: Client, line: bytes) -> None:
        fields = line.split(b":")
        verb, count = fields[0], len(fields)
        try:
            key = fields[1].decode("utf-8") if count > 1 else ""
        except UnicodeDecodeError:
            key = ""
        if not key or (verb, count) not in (
            (b"Put", 3), (b"Get", 2), (b"Delete", 2), (b"Update", 4),
        ):  # fmt: skip
            log.warning("client %d: skipped %.80r", client.number, line)
            return
        if verb == b"Put":
            self.store.put(key, fields[2])
        elif verb == b"Delete":
            self.store.delete(key)
        elif verb == b"Update":
            self.store.update(key, fields[2], fields[3])
        else:
            for value in self.store.get(key):
                with contextlib.suppress(queue.Full):  # a slow reader loses it
                    client.outbox.put_nowait(fields[1] + b":" + value + b"\n")


def stop(client: Client) -> None:
    """Put STOP after the client's replies. With the outbox full, shut the
    connection down first: the writer then drains it, and STOP finds room."""
    try:
        client.outbox.put_nowait(STOP)
    except queue.Full:
        with contextlib.suppress(OSError):
            client.conn.shutdown(socket.SHUT_RDWR)
        client.outbox.put(STOP)
