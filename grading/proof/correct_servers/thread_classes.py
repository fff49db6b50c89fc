"""A correct server in another style: Thread subclasses and dataclass records.

Theory of operation: ``Acceptor``, ``Owner``, and per client a ``Reader``
and a ``Sender``, each a ``threading.Thread`` subclass. The ``Owner`` owns
the store, the sessions and the counts. The acceptor builds a ``Session``
(a dataclass) and hands it to the owner on the ``requests`` queue; from
then on the owner alone changes it. Each reader keeps its own partial line
(its ``pending`` buffer) and counts the lines it read (``lines_read``, its
own). Each sender counts what it sent (``sent``, its own). Replies go out
through the session's bounded ``replies`` queue; a full queue drops them.
close() sets ``stopping``, wakes the acceptor, and joins every thread: the
owner returns the threads it started on ``finished``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from dataclasses import dataclass, field

from partA.kvstore import KVStore

MAX_OUTBOX = 500
MAX_LINE = 64 * 1024
END = None  # on a replies queue: the sender stops

log = logging.getLogger(__name__)


@dataclass
class Session:
    number: int
    conn: socket.socket
    replies: queue.Queue = field(default_factory=lambda: queue.Queue(MAX_OUTBOX + 1))
    threads: list = field(default_factory=list)
    reports: int = 0
    closing: bool = False


class Reader(threading.Thread):
    def __init__(self, session: Session, requests: queue.Queue) -> None:
        super().__init__(name=f"reader-of-{session.number}")
        self.session, self.requests = session, requests
        self.pending = b""
        self.lines_read = 0
        self.skipping = False

    def run(self) -> None:
        try:
            while chunk := self.session.conn.recv(8192):
                lines = self.split(chunk)
                self.lines_read += len(lines)
                if lines:
                    self.requests.put(("lines", self.session, lines))
        except OSError:
            pass
        self.requests.put(("left", self.session, None))

    def split(self, chunk: bytes) -> list[bytes]:
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        if self.skipping and lines:
            lines.pop(0)
            self.skipping = False
        if len(self.pending) > MAX_LINE + 1:
            self.pending, self.skipping = b"", True
        return [x.removesuffix(b"\r") for x in lines if len(x) <= MAX_LINE + 1]


class Sender(threading.Thread):
    def __init__(self, session: Session, requests: queue.Queue) -> None:
        super().__init__(name=f"sender-of-{session.number}")
        self.session, self.requests = session, requests
        self.sent = 0

    def run(self) -> None:
        ok = True
        while (reply := self.session.replies.get()) is not END:
            if ok:
                try:
                    self.session.conn.sendall(reply)
                    self.sent += 1
                except OSError:
                    ok = False
        self.requests.put(("sent", self.session, None))


class Acceptor(threading.Thread):
    def __init__(self, listener: socket.socket, requests: queue.Queue) -> None:
        super().__init__(name="acceptor")
        self.listener, self.requests = listener, requests
        self.stopping = threading.Event()

    def run(self) -> None:
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
            self.requests.put(("joined", Session(number, conn), None))


class Owner(threading.Thread):
    def __init__(self, store: KVStore, requests: queue.Queue) -> None:
        super().__init__(name="owner")
        self.store, self.requests = store, requests
        self.sessions: dict[int, Session] = {}
        self.active = self.dropped = 0
        self.stopping = False
        self.finished: queue.Queue = queue.Queue(1)

    def run(self) -> None:
        while not (self.stopping and not self.sessions):
            kind, session, data = self.requests.get()
            getattr(self, kind)(session, data)

    def joined(self, session: Session, _: None) -> None:
        reader = Reader(session, self.requests)
        try:
            reader.start()
        except RuntimeError as error:  # out of threads: this client alone goes
            log.warning("client %d: cannot start its reader: %s", session.number, error)
            self.dropped += 1
            session.conn.close()
            return
        self.sessions[session.number] = session
        self.active += 1
        session.threads = [reader, Sender(session, self.requests)]
        try:
            session.threads[1].start()
        except RuntimeError as error:  # no sender: its report is counted now
            log.warning("client %d: cannot start its sender: %s", session.number, error)
            session.threads, session.reports = [reader], 1
            session.closing = True  # nobody takes the sender's END
            with contextlib.suppress(OSError):
                session.conn.shutdown(socket.SHUT_RDWR)
        if self.stopping:
            self.hang_up(session)

    def lines(self, session: Session, lines: list[bytes]) -> None:
        for line in lines:
            if not self.stopping:
                self.serve(session, line.split(b":"))

    def serve(self, session: Session, fields: list[bytes]) -> None:
        op = fields[0]
        sizes = {b"Put": 3, b"Get": 2, b"Delete": 2, b"Update": 4}
        if sizes.get(op) != len(fields) or not fields[1]:
            return
        try:
            key = fields[1].decode("utf-8")
        except UnicodeDecodeError:
            return
        if op == b"Get":
            for value in self.store.get(key):
                with contextlib.suppress(queue.Full):
                    if session.replies.qsize() < MAX_OUTBOX:
                        session.replies.put_nowait(fields[1] + b":" + value + b"\n")
        elif op == b"Put":
            self.store.put(key, fields[2])
        elif op == b"Delete":
            self.store.delete(key)
        else:
            self.store.update(key, fields[2], fields[3])

    def left(self, session: Session, _: None) -> None:
        self.active -= 1
        self.dropped += 1
        self.end_sender(session)
        self.report(session)

    def sent(self, session: Session, _: None) -> None:
        self.report(session)

    def report(self, session: Session) -> None:
        session.reports += 1
        if session.reports == 2:
            for thread in session.threads:
                thread.join()
            session.conn.close()
            del self.sessions[session.number]

    def end_sender(self, session: Session) -> None:
        if not session.closing:
            session.closing = True
            session.replies.put_nowait(END)

    def hang_up(self, session: Session) -> None:
        with contextlib.suppress(OSError):
            session.conn.shutdown(socket.SHUT_RDWR)
        self.end_sender(session)

    def count(self, _: None, answer: queue.Queue) -> None:
        answer.put((self.active, self.dropped))

    def stop(self, _: None, __: None) -> None:
        self.stopping = True
        for session in self.sessions.values():
            self.hang_up(session)


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self._store = store
        self._requests: queue.Queue = queue.Queue(1024)
        self._listener: socket.socket | None = None
        self._owner: Owner | None = None
        self._acceptor: Acceptor | None = None
        self._closed = False

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self._listener is not None or self._closed:
            raise RuntimeError("start() once only")
        self._listener = socket.create_server((host, port), backlog=1024)
        self._owner = Owner(self._store, self._requests)
        self._acceptor = Acceptor(self._listener, self._requests)
        self._owner.start()
        self._acceptor.start()
        return self._listener.getsockname()[1]

    def _counts(self) -> tuple[int, int]:
        if self._listener is None or self._closed:
            raise RuntimeError("not running")
        answer: queue.Queue = queue.Queue(1)
        self._requests.put(("count", None, answer))
        return answer.get()

    def count_active(self) -> int:
        return self._counts()[0]

    def count_dropped(self) -> int:
        return self._counts()[1]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._listener is None:
            return
        self._acceptor.stopping.set()
        with contextlib.suppress(OSError):
            socket.create_connection(self._listener.getsockname()[:2], 1).close()
        self._acceptor.join()
        self._listener.close()
        self._requests.put(("stop", None, None))
        self._owner.join()
