"""A multi-client key-value server built from threads and queues.

What the server must do is in HANDOUT.md, once: the protocol, what to do
with a line it cannot use or a client that vanishes, what to log, and the
course rules (no locks: threads and ``queue.Queue``). The docstrings of
``KeyValueServer``'s methods below are its API. ``MAX_OUTBOX`` and
``MAX_LINE`` are the protocol's numbers; keep them as they are.
.. BEGIN HINTS

Where to start: HANDOUT.md's Hints (one owner for the store, a reader and a
writer per client, bounded outboxes, a sentinel to stop a thread).
.. END HINTS
.. BEGIN DESIGN

Theory of operation
-------------------
The server is a handful of threads that share nothing but queues. Each piece
of state has exactly one owner, and everybody else sends the owner messages.
(The names of threads, queues and messages below are this design's; yours
may differ.)

Threads (their names are what a thread dump or a test failure shows):

* ``accept-1`` ... ``accept-8``: wait for connections, all on the one
  listening socket (the system hands each connection to one of them). For
  each, the acceptor tells the coordinator (a ``JOINED`` message) and starts
  the client's reader, which starts the client's writer before it reads.
  Why eight: see "Under load" below.
* ``coordinator``: the one thread that touches the store, the client table and
  the counters. It serves the ``inbox`` in order: requests, clients joining
  and leaving, count queries, and the stop order from ``close()``.
* ``reader-N``: reads client N's socket, cuts the bytes into lines, parses
  them, and posts the requests one ``recv`` brought in as few messages as
  it can (a few dozen requests each at most), each once the coordinator has
  acknowledged the one before (``turn``).
* ``writer-N``: takes replies from client N's ``outbox`` and sends them; what
  has piled up while it was sending goes out in the next single send.

Queues:

* ``inbox``: many producers, one consumer (the coordinator). It has no bound
  of its own, because every producer bounds itself: a reader posts its next
  batch of requests only once the coordinator has taken the previous one
  (below), and every other message is a one-off (``JOINED``, ``LEFT``,
  ``GONE``, a count) or follows work of the coordinator's (``IDLE``). So a
  client's batch waits behind at most one batch of every other client's,
  and a client that floods the server is slowed down through TCP instead of
  filling memory. The coordinator never puts anything on it, so it can
  never wait for itself.
* ``turn`` (one per client): the coordinator's acknowledgements to the
  reader, a message that flows one way like a reply. The coordinator sends
  one each time it takes a batch of the reader's, and the reader waits for
  it before it posts the next (the first is there when the client is
  built). It is flow control, a credit of one batch in flight; it guards no
  state and no two threads wait on it, so it is no lock.
* ``outbox`` (one per client): the coordinator is its only producer and the
  writer its only consumer. It holds at most ``MAX_OUTBOX`` replies. The
  coordinator never blocks on it: a reply that finds it full is dropped, so a
  client that does not read only loses its own replies and slows nobody.
  One extra slot is kept for the writer's stop sentinel, which therefore
  always fits.

Who sends on a client's socket: one thread at a time, and the right to send
passes by message, like any other state. The coordinator has it while the
writer is idle: it sends a reply itself, with a send that never waits
(``MSG_DONTWAIT``), if the socket takes all of it. When the socket does not
(the client is slow to read), the coordinator queues what is left on the
outbox and the right to send goes with it: from then on every reply is
queued, so nothing overtakes what waits. The writer sends them; each time
it finds its outbox empty it posts ``IDLE`` with how many replies it has
taken in all, and if that is every reply queued so far, the right to send
is the coordinator's again. (Where the system has no such send, Windows,
the writer sends every reply.)

Life of a client: an acceptor posts ``JOINED``, then starts ``reader-N``,
which starts ``writer-N`` (``JOINED`` is on the inbox before any request can
be). When the peer closes, the reader posts ``LEFT`` and ends; the
coordinator counts the drop and queues the sentinel behind the client's last
replies. The writer sends those replies, meets the sentinel, posts ``GONE``
and ends. Once both reports are in, the coordinator joins both threads and
closes the socket.

Shutting down (``close()``): stop the acceptors (wake each with a connection
to ourselves, join them, close the listener), then post ``STOP``. The
coordinator shuts down every client socket, which wakes a reader blocked in
``recv`` and a writer blocked in ``sendall``, queues every writer's sentinel,
ignores further requests, and returns once every client has reported
``LEFT`` and ``GONE``. ``close()`` joins the coordinator, so when it returns
every thread the server started has ended and every socket it opened is
closed.

Bad input is dealt with where it is found: the reader's line splitter skips
an over-long line up to its newline, ``parse_request`` rejects a line that
is not a request (the reader logs it and goes on), and a line a vanishing
client left unfinished is never parsed. A client whose reader or writer
cannot start (the system is out of threads) is logged and disconnected by
whoever tried to start it.

Under load. Handing a message from one thread to another costs a wake-up,
and in CPython a wait for the interpreter lock, far more than parsing a
request or running it on the store. So the design keeps the hand-offs few: a
request and its reply cross two threads (reader, coordinator), not three,
because the coordinator sends the reply itself; that alone about doubles the
requests served a second. For the same reason a reader reads up to 64 KB at
once and hands over up to 64 requests a message: reading 4 KB at a time made
one message of every request with a 4 KB value, and served such requests at
a quarter of the rate. Waiting for the acknowledgement keeps every client
served when a thousand are busy: with one bounded inbox for all, the readers
that found it full waited for room, and a newcomer waited behind them all.
Admitting a client means starting a thread, which waits for the interpreter
lock behind every busy thread, so one acceptor admitted a storm of a
thousand clients too slowly; eight wait for the lock side by side.
.. END DESIGN
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import socket
import threading
from typing import NamedTuple

from partA.kvstore import KVStore

MAX_OUTBOX = 500
"""Replies that may wait for one client; more are dropped until it reads."""

MAX_LINE = 64 * 1024
"""The longest request line accepted, in bytes, not counting the newline."""

LISTEN_BACKLOG = 1024
"""Connections the kernel may hold for ``accept``: room for 1000 at once."""

log = logging.getLogger(__name__)


# BEGIN SOLUTION
MAX_BATCH = 64  # requests in one inbox message, at most
RECV_SIZE = 64 * 1024  # bytes: a reader holds one read's lines, parsed 64 at a time
SEND_BATCH = 256  # replies joined into one sendall at most
ACCEPTORS = 8  # threads waiting in accept() at once (see "Under load")

# Messages on the inbox are (kind, client, data) tuples.
JOINED = "joined"  # data: None
REQUESTS = "requests"  # data: list[Request]
LEFT = "left"  # the reader ended: the peer closed or the socket broke
GONE = "gone"  # the writer ended, after the sentinel
IDLE = "idle"  # data: how many replies the writer has taken; its outbox is empty
COUNT = "count"  # data: a Queue(1) for the (active, dropped) answer
STOP = "stop"  # from close()

_STOP_WRITER = object()  # the outbox sentinel: "no more replies, end now"

# A send that never waits. Windows has no such flag: there the coordinator
# leaves every reply to the writer.
_SEND_NOW = getattr(socket, "MSG_DONTWAIT", None)
# END SOLUTION


class BadRequest(ValueError):
    """A request line that breaks the protocol; its text says why."""


class Request(NamedTuple):
    """One parsed request line; fields a request does not have stay empty."""

    op: str  # "Put", "Get", "Delete" or "Update"
    key: str
    value: bytes = b""  # Put's value; Update's old value
    new: bytes = b""  # Update's new value


def parse_request(line: bytes) -> Request:
    """Parse one request line, given without its terminator.

    A helper you may use (or not): the tests only talk to the server.

    Raises:
        BadRequest: the line is not one of the four requests of the protocol.
    """
    # BEGIN SOLUTION
    fields = line.split(b":")
    op = fields[0].decode("ascii", "replace")
    expected = _FIELDS.get(op)
    if expected is None:
        raise BadRequest(f"unknown command {op!r}")
    if len(fields) != expected:
        raise BadRequest(f"{op} takes {expected} fields, got {len(fields)}")
    try:
        key = fields[1].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the key is not valid UTF-8") from None
    if not key:
        raise BadRequest("empty key")
    return Request(op, key, *fields[2:])
    # END SOLUTION


# BEGIN SOLUTION
_FIELDS = {"Put": 3, "Get": 2, "Delete": 2, "Update": 4}


class LineSplitter:
    """Cuts a byte stream into lines; skips lines longer than ``MAX_LINE``.

    Owned by one reader thread.
    """

    def __init__(self, client_id: int) -> None:
        self._client_id = client_id
        self._partial = b""  # the start of a line whose newline is still to come
        self._skipping = False  # inside an over-long line: drop up to its newline

    def feed(self, data: bytes) -> list[bytes]:
        """Return the complete lines ``data`` finishes, terminators removed."""
        *lines, rest = (self._partial + data).split(b"\n")
        if self._skipping and lines:
            lines.pop(0)  # the tail of the over-long line
            self._skipping = False
        self._partial = rest
        if len(rest) > MAX_LINE:
            self._too_long()
        return [line.removesuffix(b"\r") for line in lines if self._fits(line)]

    def _fits(self, line: bytes) -> bool:
        if len(line.removesuffix(b"\r")) <= MAX_LINE:
            return True
        self._too_long()
        self._skipping = False  # this line's newline has been seen already
        return False

    def _too_long(self) -> None:
        if not self._skipping:
            log.warning(
                "client %d: skipped a line over %d bytes", self._client_id, MAX_LINE
            )
        self._skipping = True
        self._partial = b""


class _Client:
    """One connection: its socket, its outbox and its two threads.

    ``id``, ``conn``, ``outbox`` and the threads are fixed once the client is
    built. The other fields belong to the coordinator.
    """

    def __init__(self, client_id: int, conn: socket.socket) -> None:
        self.id = client_id
        self.conn = conn
        self.outbox: queue.Queue[bytes | object] = queue.Queue(MAX_OUTBOX + 1)
        # The coordinator's acknowledgements of the reader's batches: the
        # reader waits for one before it posts a batch, the coordinator sends
        # one when it takes a batch (the first is here from the start).
        self.turn: queue.Queue[bool] = queue.Queue(1)
        self.turn.put_nowait(True)
        self.reader: threading.Thread | None = None
        self.writer: threading.Thread | None = None
        self.reports_due = 2  # LEFT from the reader, GONE from the writer
        self.stopping = False  # the writer's sentinel is queued
        self.replies_dropped = 0
        # Who sends on ``conn``: the coordinator while the writer is idle,
        # the writer from the moment a reply is queued for it until it
        # reports IDLE with every queued reply taken.
        self.sends_now = _SEND_NOW is not None
        self.replies_queued = 0  # put on the outbox, in all


# END SOLUTION


class KeyValueServer:
    """A TCP key-value server for many clients at once.

    Methods you call: ``start``, ``count_active``, ``count_dropped``,
    ``close``; also ``with KeyValueServer(store) as server:``, which closes it.
    Call them from one thread, the one that owns the server.

    Requests and replies are lines; see the protocol in the handout. The
    store is used by one thread only, so it needs no locking.
    """

    def __init__(self, store: KVStore) -> None:
        """Create a server that will keep its data in ``store``; start nothing."""
        # BEGIN SOLUTION
        self._store = store  # owned by the coordinator once started
        self._inbox: queue.Queue[tuple] = queue.Queue()  # see _submit: no bound
        self._listener: socket.socket | None = None
        self._acceptors: list[threading.Thread] = []
        self._coordinator: threading.Thread | None = None
        self._closing = threading.Event()  # set by close(): acceptors stop
        self._closed = False
        # Owned by the coordinator thread:
        self._clients: dict[int, _Client] = {}
        self._active = 0
        self._dropped = 0
        self._stopping = False
        self._handlers = {
            JOINED: self._on_joined,
            REQUESTS: self._on_batch,
            LEFT: self._on_left,
            GONE: self._on_gone,
            IDLE: self._on_idle,
            COUNT: self._on_count,
            STOP: self._on_stop,
        }
        # END SOLUTION

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        """Listen on ``host``:``port`` and serve in background threads.

        Returns at once, with the port bound (useful when ``port`` is 0,
        which picks a free port).

        Raises:
            OSError: the server cannot listen there (for example, the port is
                taken).
            RuntimeError: the server was already started, or closed.
        """
        # BEGIN SOLUTION
        if self._listener is not None or self._closed:
            raise RuntimeError("a server can be started only once")
        self._listener = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
        # Not daemons (whatever thread calls start): close() joins them all.
        self._coordinator = threading.Thread(
            target=self._coordinate, name="coordinator", daemon=False
        )
        self._acceptors = [
            threading.Thread(
                target=self._accept, args=(n,), name=f"accept-{n}", daemon=False
            )
            for n in range(1, ACCEPTORS + 1)
        ]
        self._coordinator.start()
        for acceptor in self._acceptors:
            acceptor.start()
        return self._listener.getsockname()[1]
        # END SOLUTION

    def count_active(self) -> int:
        """Return the number of clients connected now.

        Raises:
            RuntimeError: the server is not running (not started, or closed).
        """
        # BEGIN SOLUTION
        return self._ask_counts()[0]
        # END SOLUTION

    def count_dropped(self) -> int:
        """Return how many clients have disconnected since the server started.

        A running total: it never goes down. A slow client is never dropped.

        Raises:
            RuntimeError: the server is not running (not started, or closed).
        """
        # BEGIN SOLUTION
        return self._ask_counts()[1]
        # END SOLUTION

    def close(self) -> None:
        """Stop the server: stop accepting, and close every client connection.

        Blocks until every thread the server started has ended. Safe to call
        more than once, and on a server that was never started; afterwards
        ``start`` and the counts raise ``RuntimeError``.
        """
        # BEGIN SOLUTION
        if self._closed:
            return
        self._closed = True
        if self._listener is None:
            return  # never started
        self._closing.set()
        self._wake_acceptors()
        for acceptor in self._acceptors:
            acceptor.join()
        self._listener.close()
        self._inbox.put((STOP, None, None))
        self._coordinator.join()
        # END SOLUTION

    def __enter__(self) -> KeyValueServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # BEGIN SOLUTION
    # ----- called by the owner's thread --------------------------------------

    def _ask_counts(self) -> tuple[int, int]:
        if self._listener is None or self._closed:
            raise RuntimeError("the server is not running")
        answer: queue.Queue[tuple[int, int]] = queue.Queue(1)
        self._inbox.put((COUNT, None, answer))
        return answer.get()

    def _wake_acceptors(self) -> None:
        """Connect to ourselves once per acceptor, so that each ``accept()``
        returns (an acceptor ends at the first connection it takes once
        ``_closing`` is set).

        Closing a listening socket does not wake ``accept`` on every system;
        a connection does. Should connecting fail, shutting the listener down
        still wakes them on Linux.
        """
        host, port = self._listener.getsockname()[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        try:
            for _ in self._acceptors:
                socket.create_connection((host, port), timeout=1.0).close()
        except OSError:
            _shutdown(self._listener)

    # ----- the acceptor threads ------------------------------------------------

    def _accept(self, first_id: int) -> None:
        for client_id in itertools.count(first_id, ACCEPTORS):
            try:
                conn, _ = self._listener.accept()
            except OSError as error:
                if self._closing.is_set():
                    return  # close() shut the listener down to wake us
                log.warning("accept failed: %s", error)  # out of descriptors?
                self._closing.wait(0.1)  # do not spin while it lasts
                continue
            if self._closing.is_set():
                conn.close()  # our own wake-up call, or a client that came late
                return
            self._admit(_Client(client_id, conn))

    def _admit(self, client: _Client) -> None:
        with contextlib.suppress(OSError):  # macOS: EINVAL if the peer left already
            client.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.reader = threading.Thread(
            target=self._read, args=(client,), name=f"reader-{client.id}", daemon=False
        )
        client.writer = threading.Thread(
            target=self._write, args=(client,), name=f"writer-{client.id}", daemon=False
        )
        self._inbox.put((JOINED, client, None))  # before any of its requests
        # The reader starts the writer: under load every start waits its turn
        # for the interpreter lock, and the acceptor has the next client.
        self._start(client, client.reader, (LEFT, GONE))

    def _start(
        self, client: _Client, thread: threading.Thread, reports: tuple[str, ...]
    ) -> None:
        """Start one of ``client``'s threads; if the system has no thread to
        spare, disconnect the client and post ``reports`` in the thread's stead.
        """
        try:
            thread.start()
        except RuntimeError as error:  # "can't start new thread"
            log.warning("client %d: cannot start %s: %s", client.id, thread.name, error)
            _shutdown(client.conn)  # so its other thread, if running, ends too
            for report in reports:
                self._inbox.put((report, client, None))

    # ----- a client's reader and writer threads --------------------------------

    def _read(self, client: _Client) -> None:
        self._start(client, client.writer, (GONE,))
        lines = LineSplitter(client.id)
        try:
            while data := client.conn.recv(RECV_SIZE):
                cut = lines.feed(data)
                for start in range(0, len(cut), MAX_BATCH):
                    requests = self._parse_all(client, cut[start : start + MAX_BATCH])
                    if requests:
                        self._submit(client, requests)
        except OSError:
            pass  # the connection broke; that ends it like a close would
        finally:
            self._inbox.put((LEFT, client, None))

    def _submit(self, client: _Client, requests: list[Request]) -> None:
        """Hand requests to the coordinator: a reader never runs them itself.

        It waits for the acknowledgement of its last batch: at most one batch of
        each client is in the inbox, so every client's next batch waits behind
        at most one of every other client's, and a client that floods the server
        is slowed down through TCP instead of filling memory.
        """
        client.turn.get()
        self._inbox.put((REQUESTS, client, requests))

    def _parse_all(self, client: _Client, lines: list[bytes]) -> list[Request]:
        requests = []
        for line in lines:
            if not line:
                continue  # an empty line is no request; skip it quietly
            try:
                requests.append(self._parse(line))
            except BadRequest as error:
                log.warning("client %d: skipped %.80r: %s", client.id, line, error)
        return requests

    def _parse(self, line: bytes) -> Request:
        """Parse one line (the seam partC extends with its own commands)."""
        return parse_request(line)

    def _write(self, client: _Client) -> None:
        sending = True  # until the peer is gone; then only wait for the sentinel
        taken = 0  # replies taken from the outbox, in all
        while True:
            batch = [client.outbox.get()]
            while len(batch) < SEND_BATCH and batch[-1] is not _STOP_WRITER:
                try:
                    batch.append(client.outbox.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP_WRITER  # it is always the last thing queued
            if stop:
                batch.pop()
            taken += len(batch)
            if sending and batch:
                sending = self._send(client, b"".join(batch))
            if stop:
                break
            if _SEND_NOW is not None and client.outbox.empty():
                # All sent: the coordinator may send on the socket again.
                self._inbox.put((IDLE, client, taken))
        self._inbox.put((GONE, client, None))

    def _send(self, client: _Client, data: bytes) -> bool:
        """Send ``data``; return False if the connection is broken."""
        try:
            client.conn.sendall(data)
            return True
        except OSError:
            _shutdown(client.conn)  # so the reader finds out too
            return False

    # ----- the coordinator thread: the only one that touches this state -------

    def _coordinate(self) -> None:
        while not (self._stopping and not self._clients):
            kind, client, data = self._inbox.get()
            try:
                self._handlers[kind](client, data)
            except Exception:
                log.exception("the coordinator failed to handle %s", kind)

    def _on_joined(self, client: _Client, _: None) -> None:
        self._clients[client.id] = client
        self._active += 1

    def _on_batch(self, client: _Client, requests: list[Request]) -> None:
        client.turn.put_nowait(True)  # acknowledged: the next batch may come
        self._on_requests(client, requests)

    def _on_requests(self, client: _Client, requests: list[Request]) -> None:
        if self._stopping:
            return
        store = self._store
        replies = []
        for op, key, value, new in requests:
            if op == "Get":
                prefix = key.encode() + b":"
                replies.extend(prefix + stored + b"\n" for stored in store.get(key))
            elif op == "Put":
                store.put(key, value)
            elif op == "Delete":
                store.delete(key)
            else:
                store.update(key, value, new)
        if replies:
            self._reply_all(client, replies)

    def _reply(self, client: _Client, reply: bytes) -> None:
        """Send one reply to ``client`` (see ``_reply_all``)."""
        self._reply_all(client, [reply])

    def _reply_all(self, client: _Client, replies: list[bytes]) -> None:
        """Send ``replies`` to ``client`` in order, never waiting for it.

        While the coordinator has the send side, it sends what the socket
        takes at once; the rest (everything, while the writer has it) is
        queued for the writer, reply by reply, and a reply that finds the
        outbox full is dropped.
        """
        if client.sends_now:
            data = b"".join(replies)
            sent = self._send_now(client, data)
            if sent == len(data):
                return
            replies = _unsent(replies, sent)
            client.sends_now = False  # the writer has the send side now
        for reply in replies:
            self._queue(client, reply)

    def _queue(self, client: _Client, reply: bytes) -> None:
        """Queue ``reply`` for ``client``'s writer, or drop it if its outbox
        is full.

        The coordinator is the only producer, so ``qsize()`` can only shrink
        behind its back: ``put_nowait`` below never fails.
        """
        if client.outbox.qsize() < MAX_OUTBOX:
            client.outbox.put_nowait(reply)
            client.replies_queued += 1
        else:
            client.replies_dropped += 1

    def _send_now(self, client: _Client, data: bytes) -> int:
        """Send what the socket takes without waiting; return how much.

        A broken connection takes everything: the reply is lost with it, and
        the reader finds out and reports the client gone.
        """
        try:
            return client.conn.send(data, _SEND_NOW)
        except (BlockingIOError, InterruptedError):
            return 0  # the socket is full: the writer will wait for room
        except OSError:
            _shutdown(client.conn)
            return len(data)

    def _on_idle(self, client: _Client, taken: int) -> None:
        """The writer has sent all it took; if that is all we queued, the
        send side comes back to the coordinator."""
        if taken == client.replies_queued and not client.stopping:
            client.sends_now = True

    def _on_left(self, client: _Client, _: None) -> None:
        self._active -= 1
        self._dropped += 1
        self._stop_client(client)
        self._report(client)

    def _on_gone(self, client: _Client, _: None) -> None:
        self._report(client)

    def _report(self, client: _Client) -> None:
        """Count one of the client's final reports; reap it after the second."""
        client.reports_due -= 1
        if client.reports_due == 0:
            for thread in (client.reader, client.writer):
                if thread.ident is not None:  # it ran (see _admit), and has
                    thread.join()  # posted its last message already
            client.conn.close()
            del self._clients[client.id]

    def _stop_client(self, client: _Client) -> None:
        """Queue the writer's sentinel, behind every reply already queued."""
        if not client.stopping:
            client.stopping = True
            client.outbox.put_nowait(_STOP_WRITER)  # its slot is always free

    def _on_count(self, _: None, answer: queue.Queue) -> None:
        answer.put((self._active, self._dropped))

    def _on_stop(self, _: None, __: None) -> None:
        self._stopping = True
        for client in self._clients.values():
            _shutdown(client.conn)  # wakes its reader and a blocked writer
            self._stop_client(client)


def _unsent(replies: list[bytes], sent: int) -> list[bytes]:
    """What is left of ``replies`` once their first ``sent`` bytes are sent."""
    for index, reply in enumerate(replies):
        if sent < len(reply):
            return [reply[sent:], *replies[index + 1 :]]
        sent -= len(reply)
    return []


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut down, or never connected
        conn.shutdown(socket.SHUT_RDWR)


# END SOLUTION
