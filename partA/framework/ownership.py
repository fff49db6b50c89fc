"""The ownership checker: which thread writes which piece of a server's state.

The rule it checks is the lesson of part A: every piece of state has one
owner thread, and the other threads send the owner messages. A piece of
state is an attribute of the server object or of an object of a class from
the server's module (a client record, say), or a container (dict, list,
set, deque) freshly made and kept in such an attribute.

Theory of operation
-------------------
Each thread carries a vector clock: for every thread, how much of that
thread's history it has heard of. Messages carry clocks from sender to
receiver: an item put on a ``queue.Queue`` carries its putter's clock to the
thread that gets that very item; ``Thread.start`` carries the starter's clock
to the new thread; ``join`` carries the ended thread's clock to the joiner;
``Event.set`` carries the setter's clock to a ``wait`` or ``is_set`` that
sees it set; a lock's ``release`` (``threading.Lock`` or ``RLock``, made by
the server's code) carries the releaser's clock to the next ``acquire`` of
that lock. A lock orders what it guards, as Go's race detector counts a
mutex: a lock-guarded design is not reported here, but by the course rules,
which forbid locks (grading/submission/rules.py). A write to a piece of state is
recorded with its thread and that thread's clock. When another thread
writes the same piece later, the earlier write must be one it has heard of
through messages (the state was handed over); if not, the two writes are a
violation: two threads own it.

This does not depend on timing: the two writes need not overlap, only
happen, and the messages between threads are the same on every run, so a
server that breaks the rule is reported on every run that makes both writes.

How writes are seen: ``__setattr__`` of the watched classes is wrapped while
a ``Watch`` is on (the classes are restored afterwards), and a fresh dict,
list, set or deque stored in a watched attribute is swapped, as it is
stored, for a subclass that records its changes. A container that something
else still refers to at that moment is left as it is (and not watched), so
the swap never changes what the server's code sees. Reads are seen by
``__getattribute__``, wrapped the same way: a thread that reads an attribute
another thread wrote must have heard of that write too.

``Watch`` also records every thread started while it is on, and whether some
thread accounted for it once it ended (``unjoined``): joined it, or saw it
end (``is_alive()`` False, asked by a thread other than the test's own).
Seeing a thread end is a message from it, like a join.

What it assumes of the interpreter: nothing of its lock. The checker's own
tables (every clock, the writes, the violations) change only under
``_lock``, or, for a queue's clocks, under that queue's own mutex, which
``Queue._put`` and ``_get`` run under. Outside them: each thread reads its
own clock, which only it changes apart from ``_forget_clocks`` (which drops
it whole); the list of threads started and the dict of threads joined get
single calls (``append``, ``setdefault``), atomic on their object in
free-threaded CPython as with the lock; ``moved_at`` and ``_watches`` are
replaced whole. So the verdict is the same with the interpreter lock or
without it: it depends on the messages, never on how threads interleave.
"""

from __future__ import annotations

import _thread
import collections
import enum
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from partA.framework import problems

# ----- clocks ------------------------------------------------------------------

_lock = threading.Lock()  # the checker's own; nothing else is taken under it
_watches: tuple[Watch, ...] = ()  # the watches on now (one, in the suites)

Clock = dict[threading.Thread, int]


def _clock_of(thread: threading.Thread) -> Clock:
    """The thread's clock, made at its first event. Call with ``_lock`` held."""
    clock = thread.__dict__.get("_kv_clock")
    if clock is None:
        clock = dict(thread.__dict__.get("_kv_inherited", {}))
        clock[thread] = clock.get(thread, 0) + 1
        thread.__dict__["_kv_clock"] = clock
    return clock


def _me() -> threading.Thread | None:
    """This thread, or None while it is being born or is not Python's.

    Not ``threading.current_thread()``: a thread that is starting sets an
    Event before it is registered, and asking for it then would make it a
    new "dummy" thread, which sets an Event, and so on.
    """
    return _threads.get(_ident())


# threading's own table of live threads by ident: the same dict for the life
# of the process (a fork clears and refills it). Looked up directly, as the
# checker asks "which thread am I?" at every message and attribute it sees.
_threads: dict[int, threading.Thread] = threading._active
_ident = _thread.get_ident


moved_at = time.monotonic()
"""When a server thread last passed a message (``time.monotonic()``).

The harness's sign that a server is still at work, however slowly: it
waits on a server for as long as something moves. One float, replaced
whole, so threads need no lock to write or read it. Threads of the harness
(the main thread and those named ``test-...``) do not count.
"""


def _note_move() -> None:
    global moved_at
    me = _threads.get(_ident())
    if me is None:
        return
    counts = me.__dict__.get("_kv_counts")  # whether its moves count, found once
    if counts is None:
        counts = me.__dict__["_kv_counts"] = me.name[:5] != "test-" and me is not _MAIN
    if counts:
        moved_at = time.monotonic()


_MAIN = threading.main_thread()

note_move = _note_move  # for the harness's hooks: bytes a server thread moved


def _used(box: object, role: str) -> None:
    """Count a put or get of this thread on ``box`` (while a watch is on):
    who puts on a queue and who takes from it, for the deadlock finder."""
    me = _me()
    if me is None or not _watches:
        return
    users = box.__dict__.get(role)
    if users is None:
        users = box.__dict__[role] = {}
        with _lock:
            _holders.add(box)
    users[me] = users.get(me, 0) + 1


def users(box: object) -> tuple[dict[threading.Thread, int], dict]:
    """The threads that have put on ``box`` and those that have taken from it
    (a queue), with how many times each, while a watch was on."""
    fields = box.__dict__ if hasattr(box, "__dict__") else {}
    return dict(fields.get("_kv_putters", {})), dict(fields.get("_kv_getters", {}))


def _forget_clocks() -> None:
    """Drop the clocks of every thread alive now (the test's own among them),
    and those kept on queues, Events and locks, with who used each queue.

    A clock names every thread its owner has heard of, so the test's main
    thread, which lives on, would keep every server thread of every test
    (and their clocks) until the process ends; so would a lock or an Event
    that outlives the test (a library's, made while a watch was on: one of
    hypothesis's kept every server thread of every repetition of a test,
    40 MB more each time). Each watch starts from fresh clocks instead:
    writes are only compared within one watch.
    """
    with _lock:
        for thread in threading.enumerate():
            thread.__dict__.pop("_kv_clock", None)
            thread.__dict__.pop("_kv_inherited", None)
        for holder in list(_holders):
            for name in _KEPT:
                holder.__dict__.pop(name, None)
        _holders.clear()


# What keeps a clock or a count of its users, to be forgotten with the
# threads' clocks (weakly held: a queue or lock that ends is forgotten anyway).
_holders: weakref.WeakSet = weakref.WeakSet()
_KEPT = ("_kv_puts", "_kv_sets", "_kv_releases", "_kv_putters", "_kv_getters")


def _release() -> Clock:
    """A copy of this thread's clock to send along; then tick it."""
    me = _me()
    if me is None:
        return {}
    with _lock:
        clock = _clock_of(me)
        sent = dict(clock)
        clock[me] += 1
    return sent


def _acquire(received: Clock | None) -> None:
    """Hear of everything ``received`` had heard of."""
    me = _me()
    if not received or me is None:
        return
    with _lock:
        clock = _clock_of(me)
        # Only the entries that differ, found in C: a clock names every thread
        # its owner has heard of, thousands with a thousand clients.
        for thread, time in received.items() - clock.items():
            if clock.get(thread, 0) < time:
                clock[thread] = time


def _merge_into(holder: object, attribute: str, sent: Clock) -> None:
    """Merge a sent clock into one kept on ``holder`` (an Event, a LIFO queue)."""
    with _lock:
        kept = holder.__dict__.setdefault(attribute, {})
        _holders.add(holder)
        for thread, time in sent.items():
            if kept.get(thread, 0) < time:
                kept[thread] = time


def _copy_of(holder: object, attribute: str) -> Clock | None:
    with _lock:
        kept = holder.__dict__.get(attribute)
        return dict(kept) if kept else None


# ----- messages: queues, thread start and join, events -------------------------

_queue_put, _queue_get = queue.Queue._put, queue.Queue._get


def _put(self: queue.Queue, item: object) -> None:
    """Under the queue's mutex: keep the putter's clock beside its item."""
    clocks = self.__dict__.get("_kv_clocks")
    if clocks is None and _watches:
        clocks = collections.deque([None] * self._qsize())
        self.__dict__["_kv_clocks"] = clocks
    if clocks is not None:
        clocks.append(_release() if _watches else None)
    _queue_put(self, item)
    _used(self, "_kv_putters")
    _note_move()


def _get(self: queue.Queue) -> object:
    """Under the queue's mutex: the getter hears of that item's putter."""
    item = _queue_get(self)
    clocks = self.__dict__.get("_kv_clocks")
    if clocks:
        _acquire(clocks.popleft())
    _used(self, "_kv_getters")
    _note_move()
    return item


def _any_order_queue(cls: type) -> None:
    """LIFO and priority queues: a get hears of every put before it."""
    put, get = cls._put, cls._get

    def _put_any(self: queue.Queue, item: object) -> None:
        if _watches:
            _merge_into(self, "_kv_puts", _release())
        put(self, item)
        _used(self, "_kv_putters")
        _note_move()

    def _get_any(self: queue.Queue) -> object:
        item = get(self)
        _acquire(_copy_of(self, "_kv_puts"))
        _used(self, "_kv_getters")
        _note_move()
        return item

    cls._put, cls._get = _put_any, _get_any


class WatchedSimpleQueue(queue.SimpleQueue):
    """``queue.SimpleQueue``, carrying clocks as the other queues do."""

    def put(self, item: object, block: bool = True, timeout: float | None = None):
        if _watches:
            _merge_into(self, "_kv_puts", _release())
        super().put(item, block, timeout)
        _used(self, "_kv_putters")
        _note_move()

    def put_nowait(self, item: object) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> object:
        item = super().get(block, timeout)
        _acquire(_copy_of(self, "_kv_puts"))
        _used(self, "_kv_getters")
        _note_move()
        return item

    def get_nowait(self) -> object:
        return self.get(block=False)


_thread_start, _thread_join = threading.Thread.start, threading.Thread.join
_thread_is_alive = threading.Thread.is_alive
_event_set, _event_wait = threading.Event.set, threading.Event.wait
_event_is_set = threading.Event.is_set


def _start(self: threading.Thread) -> None:
    if _watches:
        self.__dict__["_kv_inherited"] = _release()
        self.__dict__["run"] = _noting_end(self, self.run, _watches)
    _thread_start(self)
    _note_move()
    for watch in _watches:
        watch.started.append((self, time.monotonic()))


def _noting_end(
    thread: threading.Thread, run: Callable[[], None], watches: tuple[Watch, ...]
) -> Callable[[], None]:
    """``run``, noting in each watch when it returns (for the failure picture)."""

    def run_and_note() -> None:
        try:
            run()
        finally:
            for watch in watches:
                watch.ended.setdefault(thread, time.monotonic())

    return run_and_note


def _join(self: threading.Thread, timeout: float | None = None) -> None:
    _thread_join(self, timeout)
    if not _thread_is_alive(self):  # else a join that timed out: nothing seen
        _seen_ended(self)


def _is_alive(self: threading.Thread) -> bool:
    alive = _thread_is_alive(self)
    if not alive and self.ident is not None and _me() is not _MAIN:  # it ran
        _seen_ended(self)  # the server saw it end: as good as a join
    return alive


def _seen_ended(thread: threading.Thread) -> None:
    """This thread saw ``thread`` end: it hears of all it did, and ``thread``
    counts as joined (the contract: joined, or seen to have ended)."""
    _note_move()
    if _watches:
        with _lock:
            final = dict(thread.__dict__.get("_kv_clock", {}))
        _acquire(final)
        for watch in _watches:
            watch.joined.setdefault(thread, time.monotonic())


def _set(self: threading.Event) -> None:
    if _watches:
        _merge_into(self, "_kv_sets", _release())
    _event_set(self)
    _note_move()


def _wait(self: threading.Event, timeout: float | None = None) -> bool:
    seen = _event_wait(self, timeout)
    if seen:
        _acquire(_copy_of(self, "_kv_sets"))
    return seen


def _is_set(self: threading.Event) -> bool:
    seen = _event_is_set(self)
    if seen:
        _acquire(_copy_of(self, "_kv_sets"))
    return seen


_allocate_lock, _allocate_rlock = threading.Lock, threading.RLock


class _Lock:
    """A lock made by code outside the standard library, carrying clocks.

    A release carries the releaser's clock to every later acquire of this
    lock (so to the next owner); everything else is the lock's own.
    """

    def __init__(self, lock: object) -> None:
        self._kv_lock = lock

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._kv_lock.acquire(blocking, timeout)
        if got:
            _acquire(_copy_of(self, "_kv_releases"))
        return got

    def release(self) -> None:
        if _watches:
            _merge_into(self, "_kv_releases", _release())
        self._kv_lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exception: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> object:  # locked(), _is_owned(), ...
        return getattr(self._kv_lock, name)

    def __repr__(self) -> str:
        return repr(self._kv_lock)


def _lock_maker(make: Callable[[], object]) -> Callable[[], object]:
    """``threading.Lock`` or ``RLock``: clock-carrying for code outside the
    standard library (a server's), as they were for the standard library's
    own locks (a Queue's mutex is no message between the threads that use it)."""

    def make_lock() -> object:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.partition(".")[0] in sys.stdlib_module_names:
            return make()
        return _Lock(make())

    make_lock.__name__ = make.__name__
    return make_lock


def install() -> None:
    """Make queues, threads and events carry clocks (once per process).

    Called when the harness is imported, before the server's module is, so
    that ``from queue import SimpleQueue`` there finds the clock-carrying one.
    """
    if queue.Queue._put is _put:
        return
    queue.Queue._put, queue.Queue._get = _put, _get
    _any_order_queue(queue.LifoQueue)
    _any_order_queue(queue.PriorityQueue)
    queue.SimpleQueue = WatchedSimpleQueue
    threading.Thread.start, threading.Thread.join = _start, _join
    threading.Thread.is_alive = _is_alive
    threading.Event.set, threading.Event.wait = _set, _wait
    threading.Event.is_set = _is_set
    threading.Event.isSet = _is_set
    threading.Lock = _lock_maker(_allocate_lock)
    threading.RLock = _lock_maker(_allocate_rlock)


# ----- writes --------------------------------------------------------------------


@dataclass(slots=True)
class Write:
    thread: threading.Thread
    time: int  # the writer's own entry in its clock at the write
    at: tuple[str, int]  # (file, line) of the write

    @property
    def where(self) -> str:
        return f"{os.path.basename(self.at[0])}:{self.at[1]}"  # "server.py:88"


@dataclass
class Violation:
    state: str  # "self._count", "Record.pending", "the dict in self._table"
    first: Write
    second: Write  # a second write, or a read
    read: bool = False

    def __str__(self) -> str:
        second = "read" if self.read else "written"
        first, then = self.first, self.second
        return (
            f"{self.state} written by {who(first.thread)} ({first.where}) "
            f"and {second} by {who(then.thread, first.thread)} ({then.where})"
        )


def who(thread: threading.Thread, other: threading.Thread | None = None) -> str:
    """A thread in words, by its role ("a reader thread", "the accept thread":
    see ``problems.who``); ``other``, the thread named before it in the same
    sentence, makes a second thread of one role "another reader thread".
    The harness's own threads are said as the test's."""
    name = thread.name
    if name.startswith("test-call "):
        return f"the test's thread (calling {name.removeprefix('test-call ')})"
    if thread is threading.main_thread():
        return "the test's thread"
    return problems.who(name, other.name if other is not None else None)


def _where(frame: FrameType | None) -> tuple[str, int]:
    if frame is None:
        return ("?", 0)
    return (frame.f_code.co_filename, frame.f_lineno)


# Attributes that threading.Thread keeps for itself (a server's Thread subclass
# shares them with whoever starts, joins or asks is_alive()): not the server's.
_THREAD_OWN = set(vars(threading.Thread())) | {
    "_tstate_lock", "_ident", "_native_id", "_is_stopped", "_handle", "_started",
}  # fmt: skip


class Watch:
    """Records, while on, threads started and joined, and writes to state.

    ``watch_classes(server_class)`` wraps the classes to watch; ``stop()``
    restores them. ``violations`` holds the first few pieces of state written
    by two threads with no message between the writes.
    """

    MAX_VIOLATIONS = 5

    def __init__(self) -> None:
        self.started: list[tuple[threading.Thread, float]] = []  # (thread, when)
        self.joined: dict[threading.Thread, float] = {}  # when first joined
        self.ended: dict[threading.Thread, float] = {}  # when its run() returned
        self.violations: list[Violation] = []
        self.server: object = None  # named "self" in messages
        # The last write of each piece of state, by attribute name, then by
        # the id of its holder: (holder, write). By name first, so that the
        # look-up of a read of a method or a constant (never written) is one.
        self._writes: dict[str, dict[int, tuple[object, Write]]] = {}
        self._wrapped: list[tuple[type, str, object]] = []  # (class, method, own)
        self._reported: set[str] = set()

    def begin(self) -> None:
        global _watches
        install()
        _forget_clocks()
        _watches = (*_watches, self)

    def stop(self) -> None:
        global _watches
        _watches = tuple(watch for watch in _watches if watch is not self)
        _forget_clocks()
        for cls, method, own in reversed(self._wrapped):
            if own is None:
                delattr(cls, method)
            else:
                setattr(cls, method, own)
        self._wrapped.clear()

    # ----- threads ---------------------------------------------------------------

    def unjoined(self, left_out: Callable[[threading.Thread], bool]) -> list[str]:
        """Names of threads started while on, not left out, that nobody joined."""
        return [
            thread.name
            for thread, _ in self.started
            if thread not in self.joined and not left_out(thread)
        ]

    # ----- state -----------------------------------------------------------------

    def watch_classes(self, server_class: type) -> None:
        """Wrap ``__setattr__`` of the server's classes and their modules' classes."""
        for cls in _classes_to_watch(server_class):
            for method, wrap in (
                ("__setattr__", _recording_setattr),
                ("__getattribute__", _recording_getattribute),
            ):
                own = cls.__dict__.get(method)
                setattr(cls, method, wrap(self, cls, own))
                self._wrapped.append((cls, method, own))

    def wrote(self, holder: object, name: str, frame: FrameType | None) -> None:
        """Record that this thread wrote ``name`` of ``holder`` (or ``holder``)."""
        found = self.unordered_write(holder, name, frame)
        if found is not None:
            self._violate(holder, name, *found)

    def unordered_write(
        self, holder: object, name: str, frame: FrameType | None
    ) -> tuple[Write, Write] | None:
        """Record this thread's write; return (the last write, this one) if the
        last was another thread's and no message carried it here."""
        me = _me()
        if me is None:
            return None
        with _lock:
            clock = _clock_of(me)
            write = Write(me, clock[me], _where(frame))
            writes = self._writes.get(name)
            if writes is None:
                writes = self._writes[name] = {}
            last = writes.get(id(holder))
            writes[id(holder)] = (holder, write)
            if last is None or last[1].thread is me:
                return None
            if clock.get(last[1].thread, 0) >= last[1].time:
                return None  # handed over: a message came from that write to here
        return last[1], write

    def read(
        self, holder: object, name: str, frame: FrameType, entry: tuple | None = None
    ) -> None:
        """Check a read of ``name`` of ``holder``: its last write must be known.
        ``entry``: its last write's, if the caller has looked it up."""
        entry = entry or self._writes.get(name, {}).get(id(holder))
        me = _me()
        if entry is None or me is None or entry[1].thread is me:
            return  # the fast way, taken by nearly every read
        write = entry[1]
        clock = me.__dict__.get("_kv_clock")  # only this thread changes it
        if clock is not None and clock.get(write.thread, 0) >= write.time:
            return
        with _lock:
            if _clock_of(me).get(write.thread, 0) >= write.time:
                return
        self._violate(holder, name, write, Write(me, 0, _where(frame)), read=True)

    def _violate(
        self, holder: object, name: str, first: Write, second: Write, read=False
    ) -> None:
        state = self._name(holder, name)
        with _lock:  # a look, then a change: two threads must not both report it
            if state in self._reported or len(self.violations) >= self.MAX_VIOLATIONS:
                return
            self._reported.add(state)
            self.violations.append(Violation(state, first, second, read))

    def _name(self, holder: object, name: str) -> str:
        if isinstance(holder, _RECORDING):
            kept_in, attribute = holder._kv_label
            return f"the {holder._kv_kind} in {self._name(kept_in, attribute)}"
        if holder is self.server:
            return f"self.{name}"
        return f"{type(holder).__name__}.{name}"


def _classes_to_watch(server_class: type) -> list[type]:
    """The server's own classes (its bases too), and the classes of their modules.

    Only plain classes of the server's modules: not tuples (immutable), not
    exceptions, nor subclasses of the standard library's queues or events.
    """
    modules = {
        cls.__module__
        for cls in server_class.__mro__
        if cls.__module__ not in ("builtins", "abc", "typing")
    }
    found = [cls for cls in server_class.__mro__ if cls.__module__ in modules]
    for name in modules:
        for value in vars(sys.modules[name]).values():
            if isinstance(value, type) and value.__module__ == name:
                found.append(value)
    unique = list(dict.fromkeys(found))
    return [cls for cls in unique if _watchable(cls)]


def _watchable(cls: type) -> bool:
    foreign = (tuple, BaseException, queue.Queue, threading.Event, type, enum.Enum)
    return not issubclass(cls, foreign)


def _inherited(cls: type, method: str) -> Callable:
    """``method`` as ``cls`` inherits it: from the next class that defines it."""
    return next(c.__dict__[method] for c in cls.__mro__[1:] if method in c.__dict__)


def _recording_setattr(watch: Watch, cls: type, own: Callable | None) -> Callable:
    def __setattr__(self: object, name: str, value: object) -> None:
        frame = sys._getframe(1)
        if frame.f_code is __setattr__.__code__:  # a subclass's, recorded there
            frame = None
        thread_own = isinstance(self, threading.Thread) and name in _THREAD_OWN
        if frame and _watches and not name.startswith("_kv_") and not thread_own:
            value = _maybe_record(watch, self, name, value)
            watch.wrote(self, name, frame)
        if own is not None:
            own(self, name, value)
        else:
            super(cls, self).__setattr__(name, value)

    return __setattr__


def _recording_getattribute(watch: Watch, cls: type, own: Callable | None) -> Callable:
    base = own or _inherited(cls, "__getattribute__")
    thread_class = issubclass(cls, threading.Thread)
    writes = watch._writes

    def __getattribute__(self: object, name: str) -> object:
        value = base(self, name)
        # The fast ways, taken by nearly every read, and checked here, not in
        # a call (this runs at every attribute the server's code reads):
        # nothing written under that name yet (a method, a class attribute),
        # the checker off, or a write this thread made or has heard of.
        holders = writes.get(name)
        if holders is None or not _watches:
            return value
        entry = holders.get(id(self))
        if entry is None or name[:4] == "_kv_":
            return value
        write, me = entry[1], _threads.get(_ident())
        if write.thread is me:
            return value
        clock = me.__dict__.get("_kv_clock") if me is not None else None
        if clock is not None and clock.get(write.thread, 0) >= write.time:
            return value  # only this thread changes its clock: no lock needed
        if thread_class and name in _THREAD_OWN:
            return value
        frame = sys._getframe(1)
        if frame.f_code is not __getattribute__.__code__:  # not a subclass's
            watch.read(self, name, frame, entry)
        return value

    return __getattribute__


# ----- containers ------------------------------------------------------------------

_MUTATORS = {
    dict: ["__setitem__", "__delitem__", "pop", "popitem", "setdefault", "update",
           "clear", "__ior__"],
    list: ["__setitem__", "__delitem__", "append", "extend", "insert", "pop",
           "remove", "clear", "sort", "reverse", "__iadd__", "__imul__"],
    set: ["add", "discard", "remove", "pop", "clear", "update", "difference_update",
          "intersection_update", "symmetric_difference_update", "__ior__",
          "__iand__", "__isub__", "__ixor__"],
    collections.deque: ["__setitem__", "__delitem__", "append", "appendleft",
                        "extend", "extendleft", "pop", "popleft", "remove",
                        "clear", "rotate", "__iadd__"],
}  # fmt: skip
_ONLY_IF_PRESENT = {"setdefault": False, "discard": True}  # writes only if (not) in


def _recording_method(base: type, method: str) -> Callable:
    original = getattr(base, method)
    present = _ONLY_IF_PRESENT.get(method)

    def record(self, *args, **kwargs):
        watch = getattr(self, "_kv_watch", None)
        changes = present is None or not args or (args[0] in self) == present
        if watch is not None and _watches and changes:
            watch.wrote(self, "", sys._getframe(1))
        return original(self, *args, **kwargs)

    record.__name__ = method
    return record


def _recording_class(base: type) -> type:
    namespace = {m: _recording_method(base, m) for m in _MUTATORS[base]}
    namespace["__slots__"] = ("_kv_watch", "_kv_label", "_kv_kind")
    return type(f"Recording{base.__name__.capitalize()}", (base,), namespace)


_RECORDING_OF = {base: _recording_class(base) for base in _MUTATORS}
_RECORDING = tuple(_RECORDING_OF.values())


def _copy(value: object) -> object:
    recording = _RECORDING_OF[type(value)]
    if type(value) is collections.deque:
        return recording(value, value.maxlen)
    return recording(value)


def _probe_references() -> int | None:
    """How many references a fresh container has when ``_maybe_record`` sees it.

    Measured, not assumed: it differs between Python versions. None if a
    fresh container cannot be told from one that is also kept elsewhere.
    """
    seen: list[int] = []

    class Probe:
        def __setattr__(self, name: str, value: object) -> None:
            _measure(seen, value)

    probe = Probe()
    probe.fresh = {}
    kept = {}
    probe.kept = kept
    fresh, aliased = seen
    return fresh if fresh < aliased else None


def _measure(seen: list[int], value: object) -> None:
    seen.append(sys.getrefcount(value))


def _maybe_record(watch: Watch, holder: object, name: str, value: object) -> object:
    """``value``, or a recording copy of it if it is a fresh plain container."""
    if type(value) not in _RECORDING_OF or _FRESH is None:
        return value
    if sys.getrefcount(value) > _FRESH:
        return value  # someone else holds it: swapping would change their view
    copy = _copy(value)
    copy._kv_watch, copy._kv_kind = watch, type(value).__name__
    copy._kv_label = (holder, name)  # named when reported: see Watch._name
    return copy


_FRESH = _probe_references()
