"""Key-value server: one thread per client that only reads; the hub writes.

How it works. Three kinds of thread:

- ``doorman`` accepts connections and passes each one to the hub.
- ``hub`` owns everything: the store, the table of clients, the counts, and
  every reply still to be sent. It starts a reader for each new client.
- ``reader-N`` reads client N's bytes, cuts them into lines, parses them and
  sends the hub the requests (a list per recv). It never writes.

The hub sends replies itself, without ever blocking: ``send`` with
``MSG_DONTWAIT`` takes what the kernel has room for. What does not fit waits
in the client's backlog, at most MAX_OUTBOX replies; a reply for a client
whose backlog is full is dropped. While some backlog is not empty the hub
does not sleep on its inbox for more than TRY_AGAIN seconds, and tries to
send again. A slow reader therefore costs the others nothing.

A client that stops sending (EOF) still gets what it is owed; then the hub
closes the socket and counts it as dropped. close() wakes the doorman, then
asks the hub to stop: the hub shuts every client socket down (which wakes
its reader), joins the readers and closes the sockets. close() joins the
doorman and the hub.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import socket
import threading
import time

from partA.kvstore import KVStore

MAX_OUTBOX = 500
MAX_LINE = 64 * 1024

TRY_AGAIN = 0.005  # seconds between tries to send to a client that is full
BATCH = 64  # replies joined into one send

log = logging.getLogger(__name__)


class Backlog:
    """What the hub still has to send to one client (the hub's alone)."""

    def __init__(self, number: int, sock: socket.socket, reader: threading.Thread):
        self.number = number
        self.sock = sock
        self.reader = reader
        self.waiting: collections.deque[bytes] = collections.deque()
        self.sending = b""  # bytes of the replies being sent now
        self.replies_sending = 0  # how many replies those bytes hold
        self.eof = False  # the client will send nothing more
        self.broken = False  # sending failed: the client is gone

    def queued(self) -> int:
        return len(self.waiting) + self.replies_sending

    def empty(self) -> bool:
        return not self.waiting and not self.sending


def parse(line: bytes) -> tuple | None:
    """("Put", key, value), ("Get", key), ... or None for a line to skip."""
    fields = line.split(b":")
    arity = {b"Put": 3, b"Get": 2, b"Delete": 2, b"Update": 4}.get(fields[0])
    if arity is None or len(fields) != arity or not fields[1]:
        return None
    try:
        key = fields[1].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return (fields[0].decode(), key, *fields[2:])


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.inbox: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.listener: socket.socket | None = None
        self.doorman: threading.Thread | None = None
        self.hub: threading.Thread | None = None
        self.finished = False
        # the hub's, from its start on
        self.clients: dict[int, Backlog] = {}
        self.dropped = 0

    # ----- the API (called by the thread that owns the server) ----------------

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listener is not None or self.finished:
            raise RuntimeError("start() may be called once, before close()")
        self.listener = socket.create_server((host, port), backlog=1024)
        self.hub = threading.Thread(target=self.run_hub, name="hub")
        self.doorman = threading.Thread(target=self.run_doorman, name="doorman")
        self.hub.start()
        self.doorman.start()
        return self.listener.getsockname()[1]

    def count_active(self) -> int:
        return self.ask("active")

    def count_dropped(self) -> int:
        return self.ask("dropped")

    def ask(self, question: str) -> int:
        if self.listener is None or self.finished:
            raise RuntimeError("the server is not running")
        answer: queue.Queue = queue.Queue(maxsize=1)
        self.inbox.put(("ask", question, answer))
        return answer.get()

    def close(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.listener is None:
            return
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.doorman.join()
        self.listener.close()
        self.inbox.put(("stop",))
        self.hub.join()

    # ----- doorman --------------------------------------------------------------

    def run_doorman(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                if self.stopping.is_set():
                    return
                time.sleep(0.01)  # out of descriptors, say: try again
                continue
            self.inbox.put(("new", sock))

    # ----- readers ----------------------------------------------------------------

    def run_reader(self, number: int, sock: socket.socket) -> None:
        pending = b""
        skipping = False  # inside a line longer than MAX_LINE
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            requests = []
            for line in lines:
                if skipping:
                    skipping = False
                    log.warning(
                        "client %d: skipped a line over %d bytes", number, MAX_LINE
                    )
                    continue
                line = line.removesuffix(b"\r")
                if len(line) > MAX_LINE:
                    log.warning(
                        "client %d: skipped a line over %d bytes", number, MAX_LINE
                    )
                    continue
                request = parse(line)
                if request is None:
                    log.warning("client %d: skipped a bad line %r", number, line[:80])
                else:
                    requests.append(request)
            if len(pending) > MAX_LINE + 1:  # +1: a "\r" may still come
                pending, skipping = b"", True
            if requests:
                self.inbox.put(("requests", number, requests))
        self.inbox.put(("eof", number))

    # ----- hub --------------------------------------------------------------------

    def run_hub(self) -> None:
        numbers = iter(range(1, 1 << 62))
        last_try = 0.0
        while True:
            full = [c for c in self.clients.values() if c.sending and not c.broken]
            try:
                message = self.inbox.get(timeout=TRY_AGAIN if full else None)
            except queue.Empty:
                message = None
            if message is not None:
                kind = message[0]
                if kind == "stop":
                    self.hang_up_all()
                    return
                if kind == "new":
                    self.welcome(next(numbers), message[1])
                elif kind == "requests":
                    self.serve(message[1], message[2])
                elif kind == "eof":
                    self.reading_done(message[1])
                elif kind == "ask":
                    count = (
                        len(self.clients) if message[1] == "active" else self.dropped
                    )
                    message[2].put(count)
            if full and time.monotonic() - last_try >= TRY_AGAIN:
                last_try = time.monotonic()
                for client in full:
                    self.flush(client)

    def welcome(self, number: int, sock: socket.socket) -> None:
        reader = threading.Thread(
            target=self.run_reader, args=(number, sock), name=f"reader-{number}"
        )
        try:
            reader.start()
        except RuntimeError:
            log.warning("client %d: no thread for it, disconnected", number)
            sock.close()
            self.dropped += 1
            return
        self.clients[number] = Backlog(number, sock, reader)

    def serve(self, number: int, requests: list[tuple]) -> None:
        client = self.clients.get(number)
        for request in requests:
            op, key = request[0], request[1]
            if op == "Put":
                self.store.put(key, request[2])
            elif op == "Delete":
                self.store.delete(key)
            elif op == "Update":
                self.store.update(key, request[2], request[3])
            elif client is not None:
                prefix = key.encode() + b":"
                for value in self.store.get(key):
                    self.reply(client, prefix + value + b"\n")
        if client is not None:
            self.flush(client)

    def reply(self, client: Backlog, line: bytes) -> None:
        if client.broken:
            return
        if client.queued() >= MAX_OUTBOX:
            return  # dropped: the client is not reading
        client.waiting.append(line)

    def flush(self, client: Backlog) -> None:
        """Send what the kernel takes now; never block."""
        while not client.broken:
            if not client.sending:
                if not client.waiting:
                    break
                batch = [
                    client.waiting.popleft()
                    for _ in range(min(BATCH, len(client.waiting)))
                ]
                client.sending, client.replies_sending = b"".join(batch), len(batch)
            try:
                sent = client.sock.send(client.sending, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                client.broken = True
                client.waiting.clear()
                client.sending, client.replies_sending = b"", 0
                break
            client.sending = client.sending[sent:]
            if not client.sending:
                client.replies_sending = 0
        if client.eof and (client.empty() or client.broken):
            self.goodbye(client)

    def reading_done(self, number: int) -> None:
        client = self.clients.get(number)
        if client is not None:
            client.eof = True
            self.flush(client)

    def goodbye(self, client: Backlog) -> None:
        """The client left and has all it was owed: let it go."""
        del self.clients[client.number]
        client.reader.join()  # it has sent its last message already
        with contextlib.suppress(OSError):
            client.sock.shutdown(socket.SHUT_RDWR)
        client.sock.close()
        self.dropped += 1

    def hang_up_all(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)
        for client in self.clients.values():
            client.reader.join()
            client.sock.close()
        self.clients.clear()
