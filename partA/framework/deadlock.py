"""A deadlock, found while the test waits: every thread the server started
waits, and nothing will ever wake any of them.

Theory of operation
-------------------
A test waits for the server (a reply, ``close()``, room to send). The wait
could end only through something the server's threads do, or something a
client does. So when, at once,

* every thread the test drives clients with waits for the server and does
  nothing else meanwhile (``test_waits``: a test thread inside such a wait
  sends nothing, reads nothing it has not been sent, and leaves no
  connection; a wait that acts on its own, a resend after half a second
  say, is no such wait),
* every live thread the server started (and a test thread inside one of
  its methods) is stuck (``waits.Wait.stuck``): a ``get`` from an empty
  queue, a ``put`` on a full one, a ``join`` of a live thread, a ``wait`` on
  an Event not set, a ``recv`` on a socket with nothing to read, a
  ``sendall`` with no room, an ``accept`` with no connection; none with a
  timeout, and none in anything else (a lock, ``select``, ``sleep``, running
  code: any of those and nothing is said),

then nothing can change any more: each of those waits can be ended only by
one of the others. One look could be fooled by a thread that was woken a
moment ago and has not run yet, so a verdict takes more: the same waits on
looks ``CONFIRM`` seconds apart, and nothing moved in between, nor for
``SETTLE`` seconds before (``last_moved``: no queue item, no thread started,
joined or ended, no Event set, no byte a server thread sent or read, no
store call, no byte a client got). A thread woken but not yet run for that
long would take a machine stopped for seconds; both limits are multiplied by
the harness's slowdown under ``--stress``.

Then the wait ends at once, and ``explain`` says why in one sentence: the
cycle if there is one ("coordinator waits for room in self._inbox, 8 of 8
full, and it is the only thread that takes from it"; two threads each
waiting for the other's queue), else the chain of waits and what its end
waits for that never comes (a socket nobody will shut down, a client that
does not read, an Event that nothing sets). Who takes from a queue, and who
puts on it, is what the ownership checker saw (``ownership.users``).
"""

from __future__ import annotations

import _thread
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator

from partA.framework import ownership, waits

SETTLE = 2.0
"""Seconds in which nothing may have moved before a deadlock is declared."""

CONFIRM = 1.0
"""Seconds between two looks that must find the same waits."""

LOOK_EVERY = 0.2
"""Seconds between looks, at most one at a time, whoever asks."""

# ----- the test's side: threads that wait for the server -------------------------

_waiting: dict[threading.Thread, int] = {}  # thread -> the number of its wait
_numbers = itertools.count(1)


@contextlib.contextmanager
def test_waits() -> Iterator[None]:
    """Mark this test thread as waiting for the server, and doing nothing else
    that the server could notice, while the body runs."""
    me = threading.current_thread()
    outer = _waiting.get(me)
    _waiting[me] = next(_numbers)  # one store in a dict: atomic
    try:
        yield
    finally:
        if outer is None:
            _waiting.pop(me, None)
        else:
            _waiting[me] = outer


# ----- the finder -------------------------------------------------------------


class Finder:
    """Looks for a deadlock of one server, when a waiting test asks (``found``).

    ``threads()``: the server's live threads, test threads inside its methods
    among them. ``drivers()``: the test threads that could still act on it.
    ``last_moved()``: when the server (or a client) last did anything.
    ``client_of(sock)``: the test client at the other end of a server socket,
    or None. ``slowness``: the harness's slowdown.
    """

    def __init__(
        self,
        server: object,
        threads: Callable[[], list[threading.Thread]],
        drivers: Callable[[], list[threading.Thread]],
        last_moved: Callable[[], float],
        client_of: Callable[[object], object],
        slowness: float = 1.0,
    ) -> None:
        self.server = server
        self.threads, self.drivers = threads, drivers
        self.last_moved, self.client_of = last_moved, client_of
        self.slowness = slowness
        self.verdict = ""  # the explanation, once a deadlock is found
        self._key: tuple | None = None  # what the last look saw
        self._since = 0.0  # when that was first seen
        self._looked = 0.0
        self._busy = _thread.allocate_lock()  # the harness's own: not watched

    def found(self) -> str:
        """The deadlock's explanation if the server is deadlocked now, else ''."""
        now = time.monotonic()
        if now - self._looked < LOOK_EVERY or not self._busy.acquire(False):
            return ""  # a verdict holds only for the look that made it
        try:
            self._looked = now
            self.verdict = verdict = self._look(now)
        finally:
            self._busy.release()
        return verdict

    def _look(self, now: float) -> str:
        moved = self.last_moved()
        side = tuple((thread, _waiting.get(thread)) for thread in self.drivers())
        waits_now = None
        if now - moved >= CONFIRM * self.slowness and _all_waiting(side):
            waits_now = self._stuck_waits()
        if waits_now is None:
            self._key = None
            return ""
        key = (moved, side, tuple(w.key() for w in waits_now))
        if key != self._key:
            self._key, self._since = key, now
            return ""
        if now - self._since < CONFIRM * self.slowness:
            return ""
        if now - moved < SETTLE * self.slowness:
            return ""
        return self.verdict or explain(waits_now, self.server, self.client_of)

    def _stuck_waits(self) -> list[waits.Wait] | None:
        """Where the server's threads wait, if every one is stuck; else None."""
        threads = self.threads()
        if not threads:
            return None
        found = waits.waits_of(self.server, threads)
        if len(found) != len(threads) or not all(w.stuck() for w in found):
            return None
        return found


def _all_waiting(side: tuple) -> bool:
    """Whether every test thread that drives clients waits for the server."""
    return bool(side) and all(number is not None for _, number in side)


# ----- the explanation ---------------------------------------------------------


def explain(found: list[waits.Wait], server: object, client_of: Callable) -> str:
    """One sentence: the cycle of waits, or the chain and what never comes."""
    names = waits.names_of(server)
    graph = _Graph(found, names, client_of)
    story = graph.cycle() or graph.event() or graph.chain()
    return (
        "deadlock: every thread the server started waits, and nothing will wake "
        f"any of them:\n  {story}"
    )


class _Graph:
    """Who waits for whom: a thread's wait ends only when one of its
    successors acts (puts on the queue it gets from, takes from the queue
    it puts on, ends)."""

    def __init__(self, found: list[waits.Wait], names: dict, client_of) -> None:
        self.waits = {w.thread: w for w in found}
        self.names, self.client_of = names, client_of
        self.after = {w.thread: self._successors(w) for w in found}

    def _successors(self, wait: waits.Wait) -> list[threading.Thread]:
        if wait.kind == "join":
            return [wait.on] if wait.on in self.waits else []
        if wait.kind not in ("get", "put"):
            return []
        putters, getters = ownership.users(wait.on)
        users = putters if wait.kind == "get" else getters
        ranked = sorted(users, key=lambda thread: -users[thread])
        # Not a test thread: a call of the test's puts its message once.
        return [t for t in ranked if t in self.waits and not _test_call(t)]

    def name(self, thread: threading.Thread) -> str:
        """A thread by its own name: a deadlock is these threads, named as in
        the lines of where each waits; the test's threads said in words."""
        if thread.name.startswith("test-") or thread is threading.main_thread():
            return ownership.who(thread)
        return thread.name

    def queue(self, box: object) -> str:
        return self.names.get(id(box), "a queue")

    # ----- the stories, best first -------------------------------------------

    def cycle(self) -> str:
        """A cycle of waits, said as one sentence; '' if there is none."""
        found = self._find_cycle()
        if not found:
            return ""
        if len(found) == 1:
            return self._alone(self.waits[found[0]])
        steps = [
            self._step(self.waits[a], b)
            for a, b in zip(found, found[1:] + found[:1], strict=True)
        ]
        end = (
            "each waits for the other"
            if len(found) == 2
            else "each waits for the next, and the last for the first"
        )
        return "; ".join(steps) + f": {end}"

    def _find_cycle(self) -> list[threading.Thread]:
        order = self._starts()
        for start in order:
            path, on_path = [start], {start: 0}
            found = self._walk(path, on_path)
            if found:
                return found
        return []

    def _walk(self, path: list, on_path: dict) -> list:
        for nxt in self.after[path[-1]]:
            if nxt in on_path:
                return path[on_path[nxt] :]
            if len(path) < 12:
                on_path[nxt] = len(path)
                path.append(nxt)
                found = self._walk(path, on_path)
                if found:
                    return found
                path.pop()
                del on_path[nxt]
        return []

    def _alone(self, wait: waits.Wait) -> str:
        who = self.name(wait.thread)
        box = self.queue(wait.on)
        if wait.kind == "put":
            full = _fullness(wait.on)
            return (
                f"{who} waits for room in {box}, {full}, and it is the only "
                "thread that takes from it: a thread must never wait for room "
                "in a queue that only it empties"
            )
        return (
            f"{who} waits for an item on {box}, and it is the only thread that "
            "puts on it"
        )

    def _step(self, wait: waits.Wait, partner: threading.Thread) -> str:
        who, other = self.name(wait.thread), self.name(partner)
        if wait.kind == "join":
            return f"{who} waits in join() for {other}"
        box = self.queue(wait.on)
        if wait.kind == "put":
            full = _fullness(wait.on)
            return f"{who} waits for room in {box}, {full}, which {other} takes from"
        return f"{who} waits for an item on {box}, which {other} puts on"

    def event(self) -> str:
        """A thread waiting on an Event while all others wait too."""
        for wait in self.waits.values():
            if wait.kind == "event":
                event = self.names.get(id(wait.on), "an Event")
                return (
                    f"{self.name(wait.thread)} waits on {event} (an Event), which "
                    "nothing sets: every other thread of the server waits too. "
                    "Set it where it is meant to be set, or do not wait for it"
                )
        return ""

    def chain(self) -> str:
        """The longest chain of waits, and what its last wait waits for."""
        best: list[threading.Thread] = []
        for start in self._starts():
            path = [start]
            while self.after[path[-1]] and self.after[path[-1]][0] not in path:
                path.append(self.after[path[-1]][0])
            if _rank(path, self.waits) > _rank(best, self.waits):
                best = path
        puts = [i for i, t in enumerate(best) if self.waits[t].kind == "put"]
        if puts and not _test_call(best[0]):
            best = best[puts[0] :]  # from the thread that waits for room
        steps = [
            self._step(self.waits[a], b) for a, b in zip(best, best[1:], strict=False)
        ]
        steps.append(self._end(self.waits[best[-1]], best))
        return "; ".join(steps)

    def _starts(self) -> list[threading.Thread]:
        """The threads to start from: the test's (in close(), say) first."""
        threads = list(self.waits)
        return sorted(threads, key=lambda t: not _test_call(t))

    def _end(self, wait: waits.Wait, chain: list[threading.Thread]) -> str:
        """What the last wait of ``chain`` waits for, that never comes."""
        who = self.name(wait.thread)
        if wait.kind in ("recv", "send"):
            client = self.client_of(wait.on)
            role = getattr(client, "role", "a client")
            verb = "recv()" if wait.kind == "recv" else "sendall()"
            said = f"{who} waits in {verb} on {role}'s connection"
            joins = any(self.waits[t].kind == "join" for t in chain[:-1])
            if wait.kind == "recv" and joins:
                return (
                    f"{said}, which nothing will shut down: shut a socket down "
                    "before joining its reader"
                )
            if wait.kind == "recv":
                return f"{said}, and {role} sends nothing more: it waits for the server"
            if not getattr(client, "reading", True):
                full = any(self.waits[t].kind == "put" for t in chain[:-1])
                advice = (
                    ": a client that does not read must slow nobody down; drop "
                    "a reply that finds its outbox full instead of waiting for room"
                    if full
                    else ""
                )
                return f"{said}, and {role} does not read{advice}"
            return f"{said}, and {role} waits for the server"
        if wait.kind == "accept":
            return f"{who} waits in accept() for a client that will not come"
        if wait.kind == "join":
            return f"{who} waits in join() for {wait.on.name}, which waits too"
        box = self.queue(wait.on)
        if wait.kind == "put":
            full = _fullness(wait.on)
            return f"{who} waits for room in {box}, {full}, which no thread takes from"
        return f"{who} waits for an item on {box}, which no thread puts on"


def _test_call(thread: threading.Thread) -> bool:
    """A thread of the harness's that runs one of the server's methods."""
    return thread.name.startswith("test-call")


def _rank(chain: list, found: dict) -> tuple:
    """Better chains: from the test's thread, then with a full queue, longer."""
    if not chain:
        return (False, False, 0)
    test = _test_call(chain[0])
    full = any(found[t].kind == "put" for t in chain)
    return (test, full, len(chain))


def _fullness(box: object) -> str:
    try:
        return f"{box.qsize()} of {box.maxsize} full"
    except AttributeError:
        return "full"
