"""A threaded key-value server (P0, part A).

Threads and who owns what:

* ``door`` accepts. For each connection it sends the keeper a ``hello``
  (with the socket) and then starts the client's listener thread. It keeps
  the list of listeners it started; when the server stops, it hands that
  list to the keeper in a message, and from then on the keeper owns it.
* ``keeper`` owns the store, the peers (one ``Peer`` record each), the
  counts and the speakers. Everything else reaches it through ``mail``.
* ``listen-N`` reads client N and posts each batch of whole lines.
* ``speak-N`` sends client N's replies. The keeper starts it the first time
  client N is owed a reply: a client that never asks a Get costs no speaker.

Each speaker's queue has room for MAX_OUTBOX replies plus one place for
its stop mark, which only the keeper puts there: a reply that finds 500
waiting is dropped, and the stop mark always fits.

A client leaves when its listener reads EOF. If it has a speaker, the
keeper sends it the stop mark; the speaker sends what is left, closes the
socket and says so, and only then is the client counted as dropped. With no
speaker, the keeper closes the socket and counts it at once.

Stopping: close() sets ``quit`` and shuts the listening socket so that the
door wakes up, joins the door, then posts ``stop``. The keeper shuts down
every client socket (listeners wake up and end), stops and joins the
speakers, joins the listeners the door handed it, and closes the sockets.
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

STOP_MARK = None  # on a speaker's queue: send what is left, then close


class Peer:
    """The keeper's record of one client."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.replies: queue.Queue | None = None  # made with the speaker
        self.speaker: threading.Thread | None = None
        self.leaving = False


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.mail: queue.Queue = queue.Queue()
        self.quit = threading.Event()
        self.sock: socket.socket | None = None
        self.door: threading.Thread | None = None
        self.keeper: threading.Thread | None = None
        self.shut = False
        # the keeper's
        self.peers: dict[int, Peer] = {}
        self.listeners: list[threading.Thread] = []
        self.gone = 0

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.sock is not None or self.shut:
            raise RuntimeError("this server was started already, or closed")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(512)
        except OSError:
            self.sock.close()
            self.sock = None
            raise
        self.keeper = threading.Thread(target=self.keep, name="keeper")
        self.door = threading.Thread(target=self.open_door, name="door")
        self.keeper.start()
        self.door.start()
        return self.sock.getsockname()[1]

    def count_active(self) -> int:
        return self.question("active")

    def count_dropped(self) -> int:
        return self.question("gone")

    def question(self, what: str) -> int:
        if self.sock is None or self.shut:
            raise RuntimeError("the server is not running")
        answer: queue.Queue = queue.Queue()
        self.mail.put(("question", what, answer))
        return answer.get()

    def close(self) -> None:
        if self.shut:
            return
        self.shut = True
        if self.sock is None:
            return
        self.quit.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.door.join()
        self.sock.close()
        self.mail.put(("stop",))
        self.keeper.join()

    # ----- the door ------------------------------------------------------------

    def open_door(self) -> None:
        started: list[threading.Thread] = []
        number = 0
        while not self.quit.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue  # woken by close(), or a failed accept: look at quit
            number += 1
            listener = threading.Thread(
                target=self.listen, args=(number, conn), name=f"listen-{number}"
            )
            self.mail.put(("hello", number, conn))
            try:
                listener.start()
            except RuntimeError:
                log.warning("client %d: cannot start its thread; hung up", number)
                self.mail.put(("bye", number))
                continue
            started.append(listener)
        self.mail.put(("listeners", started))

    # ----- listeners ------------------------------------------------------------

    def listen(self, number: int, conn: socket.socket) -> None:
        rest = b""
        too_long = False
        while True:
            try:
                chunk = conn.recv(32768)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
            if b"\n" not in chunk:
                if len(rest) > MAX_LINE + 1:
                    rest, too_long = b"", True
                continue
            lines = rest.split(b"\n")
            rest = lines.pop()
            if too_long:
                log.warning(
                    "client %d: a line over %d bytes, skipped", number, MAX_LINE
                )
                lines.pop(0)
                too_long = False
            if lines:
                self.mail.put(("lines", number, lines))
            if len(rest) > MAX_LINE + 1:
                rest, too_long = b"", True
        self.mail.put(("bye", number))

    # ----- speakers --------------------------------------------------------------

    @staticmethod
    def speak(conn: socket.socket, replies: queue.Queue, done: queue.Queue, n: int):
        working = True
        while (reply := replies.get()) is not STOP_MARK:
            if working:
                try:
                    conn.sendall(reply)
                except OSError:
                    working = False  # the client is gone; drain to the mark
        conn.close()
        done.put(("spoken", n))

    # ----- the keeper --------------------------------------------------------------

    def keep(self) -> None:
        while True:
            letter = self.mail.get()
            kind = letter[0]
            if kind == "stop":
                self.shut_everything()
                return
            if kind == "hello":
                self.peers[letter[1]] = Peer(letter[2])
            elif kind == "lines":
                self.handle(letter[1], letter[2])
            elif kind == "bye":
                self.on_bye(letter[1])
            elif kind == "spoken":
                self.on_spoken(letter[1])
            elif kind == "listeners":
                self.listeners.extend(letter[1])
            elif kind == "question":
                answer = len(self.peers) if letter[1] == "active" else self.gone
                letter[2].put(answer)

    def handle(self, number: int, lines: list[bytes]) -> None:
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if len(line) > MAX_LINE:
                log.warning(
                    "client %d: a line over %d bytes, skipped", number, MAX_LINE
                )
                continue
            parts = line.split(b":")
            try:
                key = parts[1].decode("utf-8") if len(parts) > 1 else ""
            except UnicodeDecodeError:
                key = ""
            command, n = parts[0], len(parts)
            if not key:
                log.warning("client %d: skipped %r", number, line[:60])
            elif command == b"Put" and n == 3:
                self.store.put(key, parts[2])
            elif command == b"Get" and n == 2:
                for value in self.store.get(key):
                    self.send(number, parts[1] + b":" + value + b"\n")
            elif command == b"Delete" and n == 2:
                self.store.delete(key)
            elif command == b"Update" and n == 4:
                self.store.update(key, parts[2], parts[3])
            else:
                log.warning("client %d: skipped %r", number, line[:60])

    def send(self, number: int, reply: bytes) -> None:
        peer = self.peers.get(number)
        if peer is None or peer.leaving:
            return
        if peer.speaker is None:
            peer.replies = queue.Queue(MAX_OUTBOX + 1)
            peer.speaker = threading.Thread(
                target=self.speak,
                args=(peer.conn, peer.replies, self.mail, number),
                name=f"speak-{number}",
            )
            try:
                peer.speaker.start()
            except RuntimeError:
                log.warning("client %d: cannot start its speaker; hung up", number)
                peer.speaker = None
                with contextlib.suppress(OSError):
                    peer.conn.shutdown(socket.SHUT_RDWR)  # its listener ends
                peer.leaving = True
                return
        if peer.replies.qsize() < MAX_OUTBOX:
            peer.replies.put_nowait(reply)
        # else: dropped, the client is not reading

    def on_bye(self, number: int) -> None:
        peer = self.peers.get(number)
        if peer is None:
            return
        peer.leaving = True
        if peer.speaker is not None:
            peer.replies.put_nowait(STOP_MARK)  # its place is kept
            return
        del self.peers[number]
        peer.conn.close()
        self.gone += 1

    def on_spoken(self, number: int) -> None:
        peer = self.peers.pop(number)
        peer.speaker.join()
        self.gone += 1

    def shut_everything(self) -> None:
        for peer in self.peers.values():
            with contextlib.suppress(OSError):
                peer.conn.shutdown(socket.SHUT_RDWR)
            if peer.speaker is not None and not peer.leaving:
                peer.replies.put_nowait(STOP_MARK)
        for peer in self.peers.values():
            if peer.speaker is not None:
                peer.speaker.join()
        for listener in self.listeners:
            listener.join()
        for peer in self.peers.values():
            peer.conn.close()
        self.peers.clear()
