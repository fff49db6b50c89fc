"""A correct partA server as a student might write it: plain, not fast.

A sample submission for trying the grader where it runs (Gradescope's image,
tools/gradescope-image; PrairieLearn's /grade): written apart from the
reference, in another style. One thread accepts; each client has a reader
(one line at a time, from ``makefile``) and a writer; one coordinator owns
the store, the client table and the counts, and answers questions about
them through the queue, like every other message.
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


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.inbox: queue.Queue = queue.Queue()
        self.listener: socket.socket | None = None
        self.threads: list[threading.Thread] = []  # the main thread's: joined in close
        self.closed = False

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listener is not None:
            raise RuntimeError("already started")
        self.listener = socket.create_server((host, port), backlog=128)
        for target, name in ((self.coordinate, "coordinator"), (self.accept, "accept")):
            thread = threading.Thread(target=target, name=name)
            thread.start()
            self.threads.append(thread)
        return self.listener.getsockname()[1]

    def count_active(self) -> int:
        return self.ask("active")

    def count_dropped(self) -> int:
        return self.ask("dropped")

    def close(self) -> None:
        if self.closed or self.listener is None:
            self.closed = True
            return
        self.closed = True
        coordinator, accept = self.threads
        shut(self.listener)
        self.listener.close()
        accept.join()  # no client joins after this
        self.inbox.put(("stop", None, None))
        coordinator.join()

    def __enter__(self) -> KeyValueServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ask(self, what: str) -> int:
        answer: queue.Queue = queue.Queue(1)
        self.inbox.put((what, None, answer))
        return answer.get()

    # The accept thread.

    def accept(self) -> None:
        number = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # close() shut the listener
            number += 1
            self.inbox.put(("join", number, conn))

    # The coordinator: the only thread that touches the store and the table.

    def coordinate(self) -> None:
        clients: dict[int, tuple[socket.socket, queue.Queue, list]] = {}
        leaving: list[tuple[socket.socket, list]] = []  # joined and closed at stop
        dropped = 0
        while True:
            kind, number, item = self.inbox.get()
            if kind == "join":
                outbox: queue.Queue = queue.Queue(MAX_OUTBOX)
                reader = threading.Thread(
                    target=self.read, args=(number, item), name=f"read-{number}"
                )
                writer = threading.Thread(
                    target=self.write, args=(item, outbox), name=f"write-{number}"
                )
                try:
                    reader.start()
                    writer.start()
                except RuntimeError as error:
                    log.warning("client %d cannot be served: %s", number, error)
                    shut(item)
                    outbox.put(None)
                    leaving.append((item, [reader, writer]))
                    dropped += 1
                    continue
                clients[number] = (item, outbox, [reader, writer])
            elif kind == "line" and number in clients:
                self.serve(item, clients[number][1])
            elif kind == "gone" and number in clients:
                conn, outbox, threads = clients.pop(number)
                last_word(outbox)  # the writer sends what is owed, then stops
                leaving.append((conn, threads))
                dropped += 1
            elif kind in ("active", "dropped"):
                item.put(len(clients) if kind == "active" else dropped)
            elif kind == "stop":
                for conn, outbox, threads in clients.values():
                    shut(conn)
                    last_word(outbox)
                    leaving.append((conn, threads))
                for conn, threads in leaving:
                    for thread in threads:
                        if thread.ident is not None:
                            thread.join()
                    conn.close()
                return

    def serve(self, line: bytes, outbox: queue.Queue) -> None:
        parts = line.split(b":")
        try:
            command, key = parts[0], parts[1].decode()
        except (IndexError, UnicodeDecodeError):
            return log.warning("skipped a line: %r", line[:80])
        if not key:
            return log.warning("skipped a line with an empty key")
        if command == b"Put" and len(parts) == 3:
            self.store.put(key, parts[2])
        elif command == b"Get" and len(parts) == 2:
            for value in self.store.get(key):
                with contextlib.suppress(queue.Full):  # a slow reader loses it
                    outbox.put_nowait(key.encode() + b":" + value + b"\n")
        elif command == b"Delete" and len(parts) == 2:
            self.store.delete(key)
        elif command == b"Update" and len(parts) == 4:
            self.store.update(key, parts[2], parts[3])
        else:
            log.warning("skipped a line: %r", line[:80])

    # Each client's reader and writer.

    def read(self, number: int, conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            while True:
                try:
                    line = lines.readline(MAX_LINE + 3)
                except OSError:
                    break
                if not line.endswith(b"\n"):
                    if len(line) <= MAX_LINE + 2:
                        break  # the end, perhaps in the middle of a line
                    log.warning("client %d: a line over %d bytes", number, MAX_LINE)
                    while line and not line.endswith(b"\n"):
                        line = lines.readline(MAX_LINE)  # skip the rest of it
                    continue
                line = line.rstrip(b"\n").removesuffix(b"\r")
                if len(line) > MAX_LINE:
                    log.warning("client %d: a line over %d bytes", number, MAX_LINE)
                    continue
                self.inbox.put(("line", number, line))
        self.inbox.put(("gone", number, None))

    def write(self, conn: socket.socket, outbox: queue.Queue) -> None:
        while (reply := outbox.get()) is not None:
            try:
                conn.sendall(reply)
            except OSError:
                while outbox.get() is not None:
                    pass  # the client is gone: wait for the sentinel
                break
        shut(conn)


def shut(conn: socket.socket) -> None:
    """Shut both ways (the other side sees the end); closed later, at stop."""
    with contextlib.suppress(OSError):  # the client went first
        conn.shutdown(socket.SHUT_RDWR)


def last_word(outbox: queue.Queue) -> None:
    """Put the writer's sentinel, making room for it if the outbox is full."""
    while True:
        try:
            outbox.put_nowait(None)
            return
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                outbox.get_nowait()
