"""Where a server's threads wait, said in the terms of the server's own code.

When a wait of the suites runs out (a reply, ``close()``, a count), a hang is
the likeliest cause, and its message ends with this report: each thread the
server started that is still alive, the line of the server's file where it
waits (the innermost frame in that file, with its text), and what it waits
on, found from the frames inside the standard library below that line:

* a ``queue.Queue`` ``get`` or ``put``, the queue named by the attribute
  that holds it (``self._inbox``, ``_Client.outbox``) with how full it is;
* ``join()`` of which thread; ``wait()`` on an Event, by its attribute;
* otherwise a call that Python does not see into (a socket's ``recv``,
  ``sendall`` or ``accept``, ``time.sleep``): the line says which.

Threads that wait at the same place for the same thing are said once, with
their number ("reader-0, reader-1 and 3 more"). Nothing here changes the
server: frames are read with ``sys._current_frames()``, attributes without
going through the classes' own ``__getattribute__``.

``waits_of`` gives the same as ``Wait`` records, for the deadlock finder
(``deadlock.py``): what kind of wait, on which object, and whether only
another thread could end it now (``stuck``). A socket's ``recv``, ``send``
and ``sendall`` are C calls with no frame of their own; ``watch_sockets()``
(the harness calls it) puts a Python function in front of each, whose frame
names the socket.
"""

from __future__ import annotations

import linecache
import os
import queue
import select
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType

from partA.framework import ownership

_QUEUE_FILE = os.path.normcase(queue.__file__)
_THREADING_FILE = os.path.normcase(threading.__file__)
_SOCKET_FILE = os.path.normcase(socket.__file__)
_OWNERSHIP_FILE = os.path.normcase(ownership.__file__)
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


@dataclass
class Wait:
    """Where one thread waits, and on what."""

    thread: threading.Thread
    where: str  # "server.py:51 `client.outbox.put(reply)`", or outside the code
    kind: str = ""  # get, put, join, event, recv, send, accept; "" if not a wait
    on: object = None  # the queue, thread, Event or socket
    timed: bool = False  # a timeout ends it (or a flag makes it return at once)
    said: str = ""  # what it waits on, in words: "put() on self._inbox, full, ..."

    def stuck(self) -> bool:
        """A wait without end whose reason holds now: an empty queue to get
        from, a full one to put on, a live thread to join, an Event not set,
        a socket with nothing to read (or no room to send, no connection to
        accept). Only another thread, or a client, can end it."""
        if not self.kind or self.timed:
            return False
        if self.kind in ("get", "put"):
            return _queue_stuck(self.on, self.kind)
        if self.kind == "join":
            return self.on in threading.enumerate()
        if self.kind == "event":
            return not self.on._flag
        return _socket_stuck(self.on, self.kind)

    def words(self, whose: str = "") -> str:
        """Where and on what, in words; a socket named ``whose``, if given."""
        place = f"{self.where}: {self.said}" if self.said else self.where
        if whose and self.kind in ("recv", "send"):
            place = place.replace("a socket", whose)
        return place

    def key(self) -> tuple:
        """Equal for two looks that found the thread in the same wait."""
        return (self.thread, self.where, self.kind, id(self.on))


def _queue_stuck(box: object, kind: str) -> bool:
    if isinstance(box, ownership.WatchedSimpleQueue):
        return kind == "get" and box.empty()
    if not isinstance(box, queue.Queue):
        return False
    if kind == "get":
        return box.qsize() == 0
    return 0 < box.maxsize <= box.qsize()


def _socket_stuck(sock: socket.socket, kind: str) -> bool:
    """Whether ``sock``'s call would still wait: nothing to read (nor an end
    of stream), no room to send. Unknown (a closed socket): not stuck."""
    try:
        if sock.gettimeout() is not None or sock.fileno() == -1:
            return False
        if hasattr(select, "poll"):  # no limit on the descriptor's number
            poll = select.poll()
            poll.register(sock, select.POLLOUT if kind == "send" else select.POLLIN)
            return not poll.poll(0)
        readable, writable, _ = select.select([sock], [sock], [], 0)
    except (OSError, ValueError):
        return False
    return not (writable if kind == "send" else readable)


def report(
    server: object,
    threads: Iterable[threading.Thread],
    connection: Callable[[socket.socket], str] | None = None,
) -> str:
    """Lines saying where each live thread of ``threads`` waits; '' if none.

    ``connection(sock)``: whose connection a server socket is, in words
    ("client 3's connection"), for a thread in ``recv`` or ``sendall``.
    """
    places: dict[str, list[Wait]] = {}
    for wait in waits_of(server, threads):
        places.setdefault(wait.words(), []).append(wait)
    if not places:
        return ""
    lines = []
    for found in places.values():
        one = len(found) == 1
        whose = "its own client's connection"
        if connection is None:
            whose = ""
        elif one and found[0].kind in ("recv", "send"):
            whose = connection(found[0].on)
        place = found[0].words(whose)
        lines.append(f"  {_who([w.thread.name for w in found])}: {place}")
    return "where the server's threads wait now:\n" + "\n".join(lines)


def waits_of(
    server: object, threads: Iterable[threading.Thread], names: dict | None = None
) -> list[Wait]:
    """Where each live thread of ``threads`` waits now (``names``: ``names_of``'s
    answer, if the caller has it)."""
    frames = sys._current_frames()
    files = _server_files(server)
    names = names if names is not None else _names(server)
    alive = set(threading.enumerate())  # not is_alive(): the checker watches it
    found = []
    for thread in threads:
        frame = frames.get(thread.ident) if thread in alive else None
        if frame is not None:
            found.append(_place(thread, frame, files, names))
    return found


def names_of(server: object) -> dict[int, str]:
    """id of a queue, Event or thread -> how the server's code names it."""
    return _names(server)


def _who(threads: list[str]) -> str:
    if len(threads) <= 3:
        return ", ".join(threads)
    return f"{', '.join(threads[:2])} and {len(threads) - 2} more"


def _server_files(server: object) -> set[str]:
    """The files of the server's classes (the student's file, above all)."""
    files = set()
    for cls in type(server).__mro__:
        module = sys.modules.get(cls.__module__)
        path = getattr(module, "__file__", None)
        if path and cls.__module__ not in ("builtins", "abc"):
            files.add(os.path.normcase(path))
    return files


def _fields(thing: object) -> dict[str, object]:
    try:
        return dict(object.__getattribute__(thing, "__dict__"))
    except (AttributeError, TypeError):
        return {}


def _names(server: object) -> dict[int, str]:
    """id of a queue, Event or thread -> how the server's code names it.

    The server's attributes are ``self.name``; the attributes of the objects
    it keeps in them (client records in a dict or list, say) are
    ``Class.name``.
    """
    names: dict[int, str] = {}
    for name, value in _fields(server).items():
        names.setdefault(id(value), f"self.{name}")
        for held in _contents(value):
            for field, inner in _fields(held).items():
                names.setdefault(id(inner), f"{type(held).__name__}.{field}")
    return names


def _contents(value: object) -> list[object]:
    """The objects ``value`` holds, if it is a container; else ``value``."""
    try:
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list | tuple | set | frozenset):
            return list(value)
    except RuntimeError:  # changed while we looked
        return []
    return [value]


def _place(
    thread: threading.Thread, frame: FrameType, files: set[str], names: dict
) -> Wait:
    """Where in the server's files ``frame``'s thread waits, and on what."""
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    own = next(
        (i for i, f in enumerate(stack) if _file(f) in files),
        None,
    )
    if own is None:
        wait = _waits_on(thread, reversed(stack), names)
        wait.where = f"outside the server's code, in {stack[0].f_code.co_name}()"
        return wait
    at = stack[own]
    text = linecache.getline(at.f_code.co_filename, at.f_lineno).strip()
    wait = _waits_on(thread, reversed(stack[:own]), names)
    wait.where = f"{os.path.basename(at.f_code.co_filename)}:{at.f_lineno} `{text}`"
    return wait


def _file(frame: FrameType) -> str:
    return os.path.normcase(frame.f_code.co_filename)


def _waits_on(
    thread: threading.Thread, inner: Iterable[FrameType], names: dict[int, str]
) -> Wait:
    """What the frames below the server's line (outermost first) wait on."""
    for frame in inner:
        me = frame.f_locals.get("self")
        function, where = frame.f_code.co_name, _file(frame)
        if frame.f_code in _SOCKET_CALLS:
            return _socket_wait(thread, frame, me)
        if where == _SOCKET_FILE and function == "accept":
            return Wait(thread, "", "accept", me, said="accept(), no connection")
        if where == _OWNERSHIP_FILE and isinstance(me, ownership.WatchedSimpleQueue):
            kind = "get" if function == "get" else ""  # a put never waits
            said = f"{function}() on {names.get(id(me), 'a SimpleQueue')}"
            return Wait(thread, "", kind, me, _timed(frame), said)
        if where == _QUEUE_FILE and function in ("get", "put"):
            said = _queue_wait(me, function, names)
            return Wait(thread, "", function, me, _timed(frame), said)
        if where == _THREADING_FILE and function == "join":
            said = f"join() of thread {me.name!r}, still running"
            return Wait(thread, "", "join", me, _timed(frame), said)
        if where == _THREADING_FILE and function == "wait" and _is_event(me):
            said = f"wait() on {names.get(id(me), 'an Event')}, not set"
            return Wait(thread, "", "event", me, _timed(frame), said)
    return Wait(thread, "")


def _is_event(thing: object) -> bool:
    return isinstance(thing, threading.Event)


def _timed(frame: FrameType) -> bool:
    """Whether the wait of ``frame`` (a get, put, join or Event.wait) ends
    by itself: a timeout, or a get or put that does not block."""
    local = frame.f_locals
    return local.get("timeout") is not None or not local.get("block", True)


def _socket_wait(thread: threading.Thread, frame: FrameType, sock: object) -> Wait:
    function = frame.f_code.co_name
    kind = "recv" if function.startswith("recv") else "send"
    timed = bool(frame.f_locals.get("flags", 0) & _DONTWAIT)
    return Wait(thread, "", kind, sock, timed, f"{function}() on a socket")


# ----- the socket calls, seen --------------------------------------------------

_recv, _recv_into = socket.socket.recv, socket.socket.recv_into
_send, _sendall = socket.socket.send, socket.socket.sendall


def recv(self: socket.socket, bufsize: int, flags: int = 0) -> bytes:
    data = _recv(self, bufsize, flags)
    if data:
        ownership.note_move()
    return data


def recv_into(self: socket.socket, buffer, nbytes: int = 0, flags: int = 0) -> int:
    count = _recv_into(self, buffer, nbytes, flags)
    if count:
        ownership.note_move()
    return count


def send(self: socket.socket, data, flags: int = 0) -> int:
    count = _send(self, data, flags)
    ownership.note_move()
    return count


def sendall(self: socket.socket, data, flags: int = 0) -> None:
    _sendall(self, data, flags)
    ownership.note_move()


_SOCKET_CALLS = {call.__code__ for call in (recv, recv_into, send, sendall)}


def watch_sockets() -> None:
    """Put ``recv``, ``recv_into``, ``send`` and ``sendall`` above in front of
    the socket's own (once per process): each notes bytes moved, and its
    frame says which socket a thread waits on."""
    for call in (recv, recv_into, send, sendall):
        setattr(socket.socket, call.__name__, call)


def _queue_wait(box: object, function: str, names: dict[int, str]) -> str:
    name = names.get(id(box), "a queue the server does not keep in an attribute")
    if not isinstance(box, queue.Queue):
        return f"{function}() on {name}"
    size, most = box.qsize(), box.maxsize
    putters, getters = ownership.users(box)
    if function == "get":
        return f"get() from {name}, empty{_used_by(putters, 'put on by')}"
    full = f"full, {size} of {most}" if most > 0 else f"{size} items"
    return f"put() on {name}, {full}{_used_by(getters, 'taken from by')}"


def _used_by(users: dict[threading.Thread, int], verb: str) -> str:
    """ "; taken from by writer-1": who used a queue so, most often first."""
    return f"; {verb} {_who(_users(users))}" if users else ""


def _by(users: dict[threading.Thread, int]) -> str:
    """ ", by writer-1" (who used a queue so), or "" if nobody has yet."""
    return f", by {_who(_users(users))}" if users else ""


def _users(users: dict[threading.Thread, int]) -> list[str]:
    """The names of the threads that used a queue, most often first."""
    ranked = sorted(users, key=lambda thread: -users[thread])
    if users[ranked[0]] > 1:  # a thread that used it once set it up: left out
        ranked = [thread for thread in ranked if users[thread] > 1]
    named = [thread.name for thread in ranked if not _test_call(thread)]
    if len(named) < len(ranked):  # one thread a call: said once
        named.append("the test's calls")
    return named


def _test_call(thread: threading.Thread) -> bool:
    """A harness thread that ran one of the server's methods for the test."""
    return thread.name.startswith("test-call")


def places(
    server: object,
    threads: Iterable[threading.Thread],
    connection: Callable[[socket.socket], str] | None = None,
) -> dict[threading.Thread, tuple[str, str]]:
    """Where each live thread of ``threads`` waits, in ``report()``'s words,
    and what would end the wait (``awaited``), thread by thread: the failure
    picture ends each thread's lane with the one and lists the other."""
    found = {}
    for wait in waits_of(server, threads):
        sock = connection is not None and wait.kind in ("recv", "send")
        place = wait.words(connection(wait.on) if sock else "")
        found[wait.thread] = (place, awaited(wait, connection))
    return found


def awaited(
    wait: Wait, connection: Callable[[socket.socket], str] | None = None
) -> str:
    """What would end ``wait``, in words: its wait-for edge ("a get from it,
    by writer-1"; "thread reader-3 to end"); '' for a wait that is none."""
    if wait.timed or not wait.kind:
        return ""
    putters, getters = ownership.users(wait.on)
    whose = connection(wait.on) if connection and wait.on else "its client"
    return {
        "get": "a put on it" + _by(putters),
        "put": "a get from it" + _by(getters),
        "join": f"thread {getattr(wait.on, 'name', '?')} to end",
        "event": "set() on it, by another thread",
        "recv": f"bytes from {whose}, or its end",
        "send": f"{whose} to read",
        "accept": "a client to connect",
    }.get(wait.kind, "")
