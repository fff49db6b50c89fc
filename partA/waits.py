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
"""

from __future__ import annotations

import linecache
import os
import queue
import sys
import threading
from collections.abc import Iterable
from types import FrameType

_QUEUE_FILE = os.path.normcase(queue.__file__)
_THREADING_FILE = os.path.normcase(threading.__file__)


def report(server: object, threads: Iterable[threading.Thread]) -> str:
    """Lines saying where each live thread of ``threads`` waits; '' if none."""
    frames = sys._current_frames()
    files = _server_files(server)
    names = _names(server)
    alive = set(threading.enumerate())  # not is_alive(): the checker watches it
    places: dict[str, list[str]] = {}
    for thread in threads:
        frame = frames.get(thread.ident) if thread in alive else None
        if frame is None:
            continue
        places.setdefault(_place(frame, files, names), []).append(thread.name)
    if not places:
        return ""
    lines = [f"  {_who(names_)}: {place}" for place, names_ in places.items()]
    return "where the server's threads wait now:\n" + "\n".join(lines)


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


def _place(frame: FrameType, files: set[str], names: dict[int, str]) -> str:
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
        waits_on = _waits_on(reversed(stack), names)
        where = f"outside the server's code, in {stack[0].f_code.co_name}()"
        return f"{where}: {waits_on}" if waits_on else where
    at = stack[own]
    text = linecache.getline(at.f_code.co_filename, at.f_lineno).strip()
    where = f"{os.path.basename(at.f_code.co_filename)}:{at.f_lineno} `{text}`"
    waits_on = _waits_on(reversed(stack[:own]), names)
    return f"{where}: {waits_on}" if waits_on else where


def _file(frame: FrameType) -> str:
    return os.path.normcase(frame.f_code.co_filename)


def _waits_on(inner: Iterable[FrameType], names: dict[int, str]) -> str:
    """What the standard library frames below the server's line wait on."""
    for frame in inner:
        me = frame.f_locals.get("self")
        function = frame.f_code.co_name
        if _file(frame) == _QUEUE_FILE and function in ("get", "put"):
            return _queue_wait(me, function, names)
        if _file(frame) == _THREADING_FILE and isinstance(me, threading.Thread):
            return f"join() of thread {me.name!r}, still running"
        if _file(frame) == _THREADING_FILE and isinstance(me, threading.Event):
            return f"wait() on {names.get(id(me), 'an Event')}, not set"
    return ""


def _queue_wait(box: object, function: str, names: dict[int, str]) -> str:
    name = names.get(id(box), "a queue the server does not keep in an attribute")
    if not isinstance(box, queue.Queue):
        return f"{function}() on {name}"
    size, most = box.qsize(), box.maxsize
    if function == "get":
        return f"get() from {name}, empty"
    full = f"full, {size} of {most}" if most > 0 else f"{size} items"
    return f"put() on {name}, {full}"


def places(
    server: object, threads: Iterable[threading.Thread]
) -> dict[threading.Thread, str]:
    """Where each live thread of ``threads`` waits, in ``report()``'s words,
    thread by thread: the failure picture ends each thread's lane with it."""
    frames = sys._current_frames()
    files, names = _server_files(server), _names(server)
    alive = set(threading.enumerate())
    return {
        thread: _place(frames[thread.ident], files, names)
        for thread in threads
        if thread in alive and thread.ident in frames
    }
