"""A correct server in another style: dict records, makefile() readers.

Theory of operation: one ``hub`` thread owns the store, the client table (a
dict of plain dict records) and the counts; it reads its ``inbox``, a
``queue.SimpleQueue``. ``listener`` accepts, polling a stop Event between
short ``accept`` timeouts. Each client has ``in-N``, which reads lines with
``makefile("rb").readline()`` and posts them one by one, and ``out-N``,
which sends what the hub puts on the client's bounded ``outq``. A client's
record is made by the hub on ``hello``; the threads get only what they need.
close() stops the listener, tells the hub, and joins everything the hub
hands back.
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
_DONE = object()


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.sock: socket.socket | None = None
        self.threads: list[threading.Thread] = []
        self.state = "new"
        self.table: dict[int, dict] = {}  # the hub's
        self.counts = {"active": 0, "dropped": 0}  # the hub's

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.state != "new":
            raise RuntimeError("already started or closed")
        self.sock = socket.create_server((host, port), backlog=1024)
        self.sock.settimeout(0.05)
        self.state = "running"
        hub = threading.Thread(target=self.hub, name="hub")
        listener = threading.Thread(target=self.listen, name="listener")
        self.threads = [hub, listener]
        hub.start()
        listener.start()
        return self.sock.getsockname()[1]

    def _ask(self, what: str) -> int:
        if self.state != "running":
            raise RuntimeError("not running")
        answer: queue.Queue = queue.Queue(1)
        self.inbox.put(("count", what, answer))
        return answer.get()

    def count_active(self) -> int:
        return self._ask("active")

    def count_dropped(self) -> int:
        return self._ask("dropped")

    def close(self) -> None:
        if self.state != "running":
            self.state = "closed"
            return
        self.state = "closed"
        self.stop_event.set()
        hub, listener = self.threads
        listener.join()
        self.sock.close()
        leftovers: queue.Queue = queue.Queue(1)
        self.inbox.put(("stop", None, leftovers))
        hub.join()
        for thread in leftovers.get():
            thread.join()

    # ----- listener ------------------------------------------------------------

    def listen(self) -> None:
        number = 0
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stop_event.is_set():
                    return
                continue
            conn.settimeout(None)
            number += 1
            self.inbox.put(("hello", number, conn))

    # ----- a client's threads ----------------------------------------------------

    def read_client(self, number: int, conn: socket.socket) -> None:
        try:
            with conn.makefile("rb") as stream:
                for raw in iter(lambda: stream.readline(MAX_LINE + 3), b""):
                    if not raw.endswith(b"\n"):
                        if len(raw) < MAX_LINE + 3:
                            break  # cut off by the peer leaving
                        self._skip_rest(stream)
                        continue
                    self.inbox.put(("line", number, raw.rstrip(b"\n").rstrip(b"\r")))
        except (OSError, ValueError):
            pass
        self.inbox.put(("bye", number, None))

    def _skip_rest(self, stream) -> None:
        while (more := stream.readline(MAX_LINE)) and not more.endswith(b"\n"):
            pass

    def write_client(self, number: int, conn: socket.socket, outq: queue.Queue) -> None:
        broken = False
        while (reply := outq.get()) is not _DONE:
            if not broken:
                try:
                    conn.sendall(reply)
                except OSError:
                    broken = True
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
        self.inbox.put(("written", number, None))

    # ----- the hub ------------------------------------------------------------------

    def hub(self) -> None:
        stopping = None
        while stopping is None or self.table:
            kind, number, data = self.inbox.get()
            if kind == "stop":
                stopping = data
                for record in self.table.values():
                    self._hang_up(record)
            elif kind == "count":
                data.put(self.counts[number])
            else:
                getattr(self, "on_" + kind)(number, data, stopping is not None)
        stopping.put(self.finished_threads)

    def on_hello(self, number: int, conn: socket.socket, stopping: bool) -> None:
        outq: queue.Queue = queue.Queue(MAX_OUTBOX + 1)
        reader = threading.Thread(
            target=self.read_client, args=(number, conn), name=f"in-{number}"
        )
        writer = threading.Thread(
            target=self.write_client, args=(number, conn, outq), name=f"out-{number}"
        )
        record = {"conn": conn, "outq": outq, "threads": [reader, writer], "ends": 0}
        try:
            reader.start()
        except RuntimeError as error:  # out of threads: this client alone goes
            log.warning("client %d: cannot start its reader: %s", number, error)
            self.counts["dropped"] += 1
            conn.close()
            return
        self.table[number] = record
        self.counts["active"] += 1
        try:
            writer.start()
        except RuntimeError as error:  # the reader ends once hung up; its bye reaps
            log.warning("client %d: cannot start its writer: %s", number, error)
            record["threads"], record["ends"] = [reader], 1
            stopping = True
        if stopping:
            self._hang_up(record)

    def on_line(self, number: int, line: bytes, stopping: bool) -> None:
        if stopping:
            return
        parts = line.split(b":")
        op, args = parts[0], parts[1:]
        arity = {b"Put": 2, b"Get": 1, b"Delete": 1, b"Update": 3}.get(op)
        if arity != len(args) or not args[0]:
            return
        try:
            key = args[0].decode()
        except UnicodeDecodeError:
            return
        if op == b"Put":
            self.store.put(key, args[1])
        elif op == b"Delete":
            self.store.delete(key)
        elif op == b"Update":
            self.store.update(key, args[1], args[2])
        else:
            record = self.table[number]
            for value in self.store.get(key):
                if record["outq"].qsize() < MAX_OUTBOX:
                    record["outq"].put_nowait(args[0] + b":" + value + b"\n")

    def on_bye(self, number: int, _: None, stopping: bool) -> None:
        record = self.table[number]
        self.counts["active"] -= 1
        self.counts["dropped"] += 1
        record["outq"].put_nowait(_DONE)
        self._ended(number)

    def on_written(self, number: int, _: None, stopping: bool) -> None:
        self._ended(number)

    def _ended(self, number: int) -> None:
        record = self.table[number]
        record["ends"] += 1
        if record["ends"] == 2:
            for thread in record["threads"]:
                thread.join()
            record["conn"].close()
            del self.table[number]

    def _hang_up(self, record: dict) -> None:
        with contextlib.suppress(OSError):
            record["conn"].shutdown(socket.SHUT_RDWR)

    @property
    def finished_threads(self) -> list[threading.Thread]:
        return []  # the hub joined every client's threads itself
