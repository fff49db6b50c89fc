"""A failed partA test, drawn: one self-contained HTML page, no network.

The harness keeps a ``Timeline`` while a test runs: for each client (a
lane), what it sent and received and when, replies dropped while it was
slow, the server ending its connection, and the failure; for the server's
threads, when each started, ended and was joined, and where each still
running waits (``waits.places``). When a test fails, ``write`` draws it: a
lane per client and per thread on one time axis, each ending in where the
thread waits or how it ended; the first point where what happened left what
was owed (the failure) in red, with the events just before it listed in
words. A page stays readable with hundreds of clients: the lanes where
something went wrong come first, and past ``LANES`` the others are drawn
together (clients in one lane, threads in a lane per role and state).

Pages go to the folder named by ``KV_PICTURES_DIR``, else to
``build/kv-pictures`` in the kit's folder (which git ignores).
"""

from __future__ import annotations

import _thread
import collections
import html
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from partA.framework import problems

KEEP = 300  # events kept per lane: the last ones, which lead to a failure


@dataclass
class Event:
    when: float  # time.monotonic()
    kind: str  # sent, received, dropped, closed, failure, note
    text: str


@dataclass
class Lane:
    name: str
    events: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=KEEP)
    )
    counts: collections.Counter = field(default_factory=collections.Counter)


class Timeline:
    """What happened, lane by lane. Lanes are added to by several threads
    (each client's, the test's), so an addition is made under a lock of the
    timeline's own: a count's ``+= 1`` is a look and a change, which two
    threads could interleave, with the interpreter lock or without it. The
    lock is the low-level one, which the ownership checker does not make into
    a message (only locks made in a server's code are): the test's threads
    must not hear of one another through the picture."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.lanes: dict[str, Lane] = {}
        self._lock = _thread.allocate_lock()

    def add(self, lane: str, kind: str, text: str) -> None:
        with self._lock:
            found = self.lanes.get(lane)
            if found is None:
                found = self.lanes[lane] = Lane(lane)
            found.events.append(Event(time.monotonic(), kind, text))
            found.counts[kind] += 1

    def failures(self) -> list[tuple[str, Event]]:
        return [
            (lane.name, event)
            for lane in list(self.lanes.values())
            for event in list(lane.events)
            if event.kind == "failure"
        ]


def folder(root: Path) -> Path:
    return Path(os.environ.get("KV_PICTURES_DIR") or root / "build" / "kv-pictures")


@dataclass
class ThreadLife:
    """A thread the server started, as the picture draws it."""

    thread: threading.Thread
    started: float  # time.monotonic()
    joined: float | None = None  # when something joined it or saw it end
    ended: float | None = None  # when its run() returned, if it did
    waits: str = ""  # where it waits, if it was alive (waits.places' words)
    awaits: str = ""  # what would end that wait (waits.awaited's words)
    running: bool | None = None  # alive when the test failed (None: not seen)

    @property
    def state(self) -> str:
        running = self.thread.is_alive() if self.running is None else self.running
        if running:
            return "running"
        return "joined" if self.joined is not None else "unjoined"


def write(
    root: Path,
    test: str,
    message: str,
    timeline: Timeline,
    threads: list[ThreadLife | tuple],
) -> Path:
    """Draw the failed ``test``; return the page's absolute path. ``threads``:
    ``ThreadLife``s, or (thread, started, joined) tuples."""
    if not timeline.failures():
        timeline.add("checks", "failure", message)
    out = folder(root).resolve()
    out.mkdir(parents=True, exist_ok=True)
    path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", test).strip("_") + ".html")
    lives = [t if isinstance(t, ThreadLife) else ThreadLife(*t) for t in threads]
    path.write_text(render(test, message, timeline, lives), encoding="utf-8")
    return path


# ----- drawing -------------------------------------------------------------------

LANES = 24
"""Lanes of clients, and of threads, drawn one by one; the rest are grouped."""

MARKS = 4000  # marks drawn in a lane of grouped clients, at most

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.2em; } pre { white-space: pre-wrap; background: #fff3f3;
  border-left: 4px solid #c00; padding: .6em; }
.axis, .lane { position: relative; height: 26px; margin-left: 14em;
  margin-right: 26em; border-bottom: 1px solid #eee; }
.name { position: absolute; left: -14em; width: 13.5em; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; line-height: 26px; }
.end { position: absolute; left: 100%; width: 25.5em; padding-left: .5em;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  line-height: 26px; font-size: 12px; color: #555; }
.lane.thread.running .end { color: #a00; font-family: monospace; }
.mark { position: absolute; top: 7px; width: 3px; height: 12px; }
.sent { background: #2a6fdb; } .received { background: #2e9e4f; }
.dropped { background: #e3a008; height: 18px; top: 4px; width: 5px; }
.closed { background: #555; width: 5px; } .note { background: #999; }
.failure { background: #d00; width: 8px; height: 22px; top: 2px; }
.bar { position: absolute; top: 8px; height: 10px; background: #b9c7e6; }
.group .bar, .group .mark { opacity: .5; }
.bar.running { background: #e88; }
.bar.unjoined, i.unjoined { background: repeating-linear-gradient(45deg, #b9c7e6,
  #b9c7e6 4px, #fff 4px, #fff 8px); }
.tick { position: absolute; top: 0; font-size: 11px; color: #777; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
table { border-collapse: collapse; margin-top: .5em; } td { padding: 2px 8px;
  border-bottom: 1px solid #eee; vertical-align: top; font-family: monospace; }
tr.row-failure td { background: #fdd; font-weight: bold; }
"""


def render(
    test: str, message: str, timeline: Timeline, threads: list[ThreadLife]
) -> str:
    now = time.monotonic()
    end = max([now] + [e.when for lane in timeline.lanes.values() for e in lane.events])
    span = max(end - timeline.start, 1e-6)

    def x(when: float) -> float:
        return max(0.0, min(100.0, (when - timeline.start) / span * 100))

    rows = [_axis(span), *_client_rows(timeline, x), *_thread_rows(threads, x)]
    first = min(timeline.failures(), key=lambda pair: pair[1].when, default=None)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(test)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(test)} failed</h1><pre>{html.escape(message)}</pre>"
        + _legend()
        + "".join(rows)
        + _waiting(threads)
        + (_before(timeline, *first) if first else "")
        + "</body></html>"
    )


def _axis(span: float) -> str:
    ticks = "".join(
        f"<span class='tick' style='left:{i * 10}%'>{span * i / 10:.2f} s</span>"
        for i in range(10)
    )
    return (
        f"<div class='axis'><span class='name'>time since start</span>{ticks}"
        "<span class='end'>at the end: where it waits, or how it ended</span></div>"
    )


def _involved(lane: Lane) -> bool:
    """A lane where something went wrong: a failure, a drop, a connection ended."""
    return any(lane.counts[kind] for kind in ("failure", "dropped", "closed"))


def _client_rows(timeline: Timeline, x) -> list[str]:
    """A lane per client, those where something went wrong first; beyond
    ``LANES``, the others share one lane."""
    lanes = list(timeline.lanes.values())
    ordered = [ln for ln in lanes if _involved(ln)] + [
        ln for ln in lanes if not _involved(ln)
    ]
    shown, rest = ordered[:LANES], ordered[LANES:]
    rows = [_client_lane(lane, x) for lane in shown]
    if rest:
        rows.append(_grouped_clients(rest, x))
    return rows


def _marks(events, x) -> str:
    return "".join(
        f"<span class='mark {e.kind}' style='left:{x(e.when):.3f}%' "
        f"title='{html.escape(e.kind + ': ' + e.text, quote=True)}'></span>"
        for e in events
    )


def _client_lane(lane: Lane, x) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(lane.counts.items()))
    name = html.escape(lane.name)
    return (
        f"<div class='lane client'><span class='name' title='{counts}'>{name}"
        f"</span>{_marks(lane.events, x)}<span class='end'>{counts}</span></div>"
    )


def _grouped_clients(lanes: list[Lane], x) -> str:
    events = [e for lane in lanes for e in list(lane.events)]
    step = max(1, len(events) // MARKS)
    what = f"{len(lanes)} more clients, where nothing went wrong"
    return (
        f"<div class='lane client group'><span class='name' title='{what}'>"
        f"{what}</span>{_marks(events[::step], x)}<span class='end'>"
        f"{len(events)} events, drawn together</span></div>"
    )


def _thread_rows(threads: list[ThreadLife], x) -> list[str]:
    """A lane per thread: the running ones first, then those never joined,
    then the joined. Past ``LANES`` threads, only running ones have a lane of
    their own (``LANES`` at most); the others share a lane per role and state
    ("40 reader threads, joined")."""
    order = {"running": 0, "unjoined": 1, "joined": 2}
    ordered = sorted(threads, key=lambda t: order[t.state])
    if len(ordered) <= LANES:
        shown, rest = ordered, []
    else:
        running = [t for t in ordered if t.state == "running"][:LANES]
        shown, rest = running, ordered[len(running) :]
    rows = [_thread_lane(life, x) for life in shown]
    groups: dict[tuple[str, str], list[ThreadLife]] = {}
    for life in rest:
        groups.setdefault((problems.role(life.thread.name), life.state), []).append(
            life
        )
    rows += [
        _grouped_threads(role, state, lives, x)
        for (role, state), lives in groups.items()
    ]
    return rows


_STATE_WORDS = {
    "running": "running when the test failed",
    "unjoined": "ended, never joined",
    "joined": "joined",
}


def _bar(life: ThreadLife, x) -> str:
    """The thread's life: from its start to its join, its end, or now."""
    stop = life.joined if life.state == "joined" else None
    if life.state == "unjoined":
        stop = life.ended  # where it ended, not the right edge
    left, right = x(life.started), x(stop or time.monotonic())
    what = html.escape(f"{life.thread.name}: {_STATE_WORDS[life.state]}", quote=True)
    return (
        f"<span class='bar {life.state}' style='left:{left:.3f}%;width:"
        f"{max(right - left, 0.3):.3f}%' title='{what}'></span>"
    )


def _thread_lane(life: ThreadLife, x) -> str:
    name = html.escape(f"thread {life.thread.name}")
    end = html.escape(_lane_end(life), quote=True)
    return (
        f"<div class='lane thread {life.state}'><span class='name' "
        f"title='{_STATE_WORDS[life.state]}'>{name}</span>{_bar(life, x)}"
        f"<span class='end' title='{end}'>{end}</span></div>"
    )


def _lane_end(life: ThreadLife) -> str:
    """How a thread's lane ends: what it waits on first (then the line where
    it waits), or how it ended."""
    if not life.waits:
        return _STATE_WORDS[life.state]
    where, found, on = life.waits.partition("`: ")
    return f"{on} ({where}`)" if found else life.waits


def _grouped_threads(role: str, state: str, lives: list[ThreadLife], x) -> str:
    what = f"{len(lives)} {role} threads"
    bars = "".join(_bar(life, x) for life in lives)
    end = f"{_STATE_WORDS[state]} (drawn together)"
    return (
        f"<div class='lane thread group {state}'><span class='name' "
        f"title='{html.escape(what)}, {end}'>{html.escape(what)}</span>{bars}"
        f"<span class='end'>{end}</span></div>"
    )


def _legend() -> str:
    kinds = [
        ("sent", "background:#2a6fdb"), ("received", "background:#2e9e4f"),
        ("dropped (slow reader)", "background:#e3a008"),
        ("connection ended", "background:#555"), ("note", "background:#999"),
        ("failure", "background:#d00"),
        ("thread alive, until joined", "background:#b9c7e6"),
        ("thread ended, never joined (until it ended)", "", "unjoined"),
        ("thread running when the test failed", "background:#e88"),
    ]  # fmt: skip
    spans = "".join(
        f"<span><i class='{kind[2] if len(kind) > 2 else ''}' style='{kind[1]}'>"
        f"</i>{kind[0]}</span>"
        for kind in kinds
    )
    note = (
        "<span>at a lane's end: where a running thread waits (red), how a "
        "thread ended, or what a client did</span>"
    )
    return f"<p class='legend'>{spans}{note}</p>"


def _waiting(threads: list[ThreadLife]) -> str:
    """The running threads, where each waits and what would end the wait
    (its wait-for edge)."""
    live = [life for life in threads if life.state == "running"]
    if not live:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(life.thread.name)}</td>"
        f"<td>{html.escape(life.waits or 'not known')}</td>"
        f"<td>{html.escape(life.awaits)}</td></tr>"
        for life in live
    )
    return (
        "<h2>Where the running threads wait</h2><table><tr><td>thread</td>"
        f"<td>where, and on what</td><td>waits for</td></tr>{rows}</table>"
    )


def _before(timeline: Timeline, lane_name: str, failure: Event) -> str:
    """The last events of the failing lane, up to the failure, in words."""
    lane = timeline.lanes[lane_name]
    events = [e for e in lane.events if e.when <= failure.when][-25:]
    rows = "".join(
        f"<tr class='row-{e.kind}'><td>{e.when - timeline.start:.3f}&nbsp;s</td>"
        f"<td>{e.kind}</td><td>{html.escape(e.text[:300])}</td></tr>"
        for e in events
    )
    return (
        f"<h2>Where {html.escape(lane_name)} left what it was owed</h2>"
        f"<table>{rows}</table>"
    )
