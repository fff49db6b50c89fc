"""Part A: the key-value server.

One ``dispatcher`` thread owns the store and the sessions; nothing else
touches them. ``listener`` accepts connections and posts them to the
dispatcher, which starts two threads per session: ``in-N`` turns bytes
into lines and posts them, ``out-N`` sends what the dispatcher puts in the
session's outbox (500 replies at most; more are dropped, never waited for).

Leaving: when ``in-N`` sees the end of the stream it posts ``eof``. The
dispatcher then puts the session's ``FINISH`` marker in its outbox (a
place is kept for it); ``out-N`` sends what is left, closes the socket and
posts ``closed``. The session is forgotten at ``closed``.
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

log = logging.getLogger(__name__)

FINISH = b""  # in an outbox: no more replies


@dataclass
class Session:
    number: int
    conn: socket.socket
    outbox: queue.Queue = field(default_factory=lambda: queue.Queue(MAX_OUTBOX + 1))
    threads: list[threading.Thread] = field(default_factory=list)
    finishing: bool = False


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole lines in ``buffer`` (without their ends), and what is left."""
    *lines, rest = buffer.split(b"\n")
    return [line.removesuffix(b"\r") for line in lines], rest


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.posts: queue.Queue = queue.Queue()
        self.stopped = threading.Event()
        self.listening: socket.socket | None = None
        self.threads: list[threading.Thread] = []
        self.was_closed = False
        self.sessions: dict[int, Session] = {}  # the dispatcher's
        self.left = 0  # the dispatcher's

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.listening is not None or self.was_closed:
            raise RuntimeError("start(): already started or closed")
        self.listening = socket.create_server((host, port), backlog=1024)
        for name, loop in (("dispatcher", self.dispatch), ("listener", self.listen)):
            thread = threading.Thread(target=loop, name=name)
            thread.start()
            self.threads.append(thread)
        return self.listening.getsockname()[1]

    def count_active(self) -> int:
        return self.query(lambda: len(self.sessions))

    def count_dropped(self) -> int:
        return self.query(lambda: self.left)

    def query(self, question) -> int:
        if self.listening is None or self.was_closed:
            raise RuntimeError("the server is not running")
        answer: queue.Queue = queue.Queue()
        self.posts.put(("query", question, answer))
        return answer.get()

    def close(self) -> None:
        if self.was_closed:
            return
        self.was_closed = True
        if self.listening is None:
            return
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.listening.shutdown(socket.SHUT_RDWR)
        self.threads[1].join()  # the listener
        self.listening.close()
        self.posts.put(("stop", None, None))
        self.threads[0].join()  # the dispatcher

    # ----- threads other than the dispatcher ---------------------------------

    def listen(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listening.accept()
            except OSError:
                continue
            self.posts.put(("connect", conn, None))

    def receive(self, number: int, conn: socket.socket) -> None:
        buffer, skip = b"", False
        while True:
            try:
                data = conn.recv(16384)
            except OSError:
                data = b""
            if not data:
                break
            lines, buffer = split_lines(buffer + data)
            if skip and lines:
                lines, skip = lines[1:], False  # the end of a line that was too long
            if lines:
                self.posts.put(("lines", number, lines))
            if len(buffer) > MAX_LINE + 1:
                log.warning("client %d: line over %d bytes, skipped", number, MAX_LINE)
                buffer, skip = b"", True
        self.posts.put(("eof", number, None))

    def send(self, number: int, conn: socket.socket, outbox: queue.Queue) -> None:
        broken = False
        while (reply := outbox.get()) is not FINISH:
            if not broken:
                try:
                    conn.sendall(reply)
                except OSError:
                    broken = True
        conn.close()
        self.posts.put(("closed", number, None))

    # ----- the dispatcher ------------------------------------------------------------

    def dispatch(self) -> None:
        numbers = 0
        while True:
            what, who, extra = self.posts.get()
            if what == "stop":
                break
            if what == "connect":
                numbers += 1
                self.open_session(numbers, who)
            elif what == "lines" and who in self.sessions:
                for line in extra:
                    self.execute(self.sessions[who], line)
            elif what == "eof" and who in self.sessions:
                self.left += 1
                self.finish(self.sessions[who])
            elif what == "closed" and who in self.sessions:
                self.left += 1
                for thread in self.sessions.pop(who).threads:
                    thread.join()
            elif what == "query":
                extra.put(who())
        self.stop_sessions()

    def open_session(self, number: int, conn: socket.socket) -> None:
        session = Session(number, conn)
        session.threads = [
            threading.Thread(
                target=self.receive, args=(number, conn), name=f"in-{number}"
            ),
            threading.Thread(
                target=self.send,
                args=(number, conn, session.outbox),
                name=f"out-{number}",
            ),
        ]
        try:
            for thread in session.threads:
                thread.start()
        except RuntimeError:
            log.warning("client %d: no thread could start for it; hung up", number)
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            for thread in session.threads:
                if thread.ident is not None:
                    thread.join()
            conn.close()
            self.left += 1
            return
        self.sessions[number] = session

    def finish(self, session: Session) -> None:
        if not session.finishing:
            session.finishing = True
            session.outbox.put_nowait(FINISH)  # its place is kept

    def execute(self, session: Session, line: bytes) -> None:
        if len(line) > MAX_LINE:
            log.warning(
                "client %d: line over %d bytes, skipped", session.number, MAX_LINE
            )
            return
        op, *args = line.split(b":")
        try:
            key = args[0].decode("utf-8") if args else ""
        except UnicodeDecodeError:
            key = ""
        if key and op == b"Get" and len(args) == 1:
            for value in self.store.get(key):
                self.reply(session, args[0] + b":" + value + b"\n")
        elif key and op == b"Put" and len(args) == 2:
            self.store.put(key, args[1])
        elif key and op == b"Delete" and len(args) == 1:
            self.store.delete(key)
        elif key and op == b"Update" and len(args) == 3:
            self.store.update(key, args[1], args[2])
        else:
            log.warning("client %d: skipped %r", session.number, line[:60])

    def reply(self, session: Session, line: bytes) -> None:
        if not session.finishing and session.outbox.qsize() < MAX_OUTBOX:
            session.outbox.put_nowait(line)

    def stop_sessions(self) -> None:
        for session in self.sessions.values():
            with contextlib.suppress(OSError):
                session.conn.shutdown(socket.SHUT_RDWR)
            self.finish(session)
        for session in self.sessions.values():
            for thread in session.threads:
                thread.join()
        self.sessions.clear()
