"""A failed partA test, drawn: one self-contained HTML page, no network.

The harness keeps a ``Timeline`` while a test runs: for each client (a
lane), what it sent and received and when, replies dropped while it was
slow, the server ending its connection, and the failure; for the server's
threads, when each started and was joined. When a test fails, ``write``
draws it: a lane per client and per thread on one time axis, and the first
point where what happened left what was owed (the failure) in red, with the
events just before it listed in words.

Pages go to the folder named by ``KV_PICTURES_DIR``, else to
``build/kv-pictures`` in the kit's folder (which git ignores).
"""

from __future__ import annotations

import collections
import html
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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
    """What happened, lane by lane. Lanes are added to by several threads:
    each client thread adds to its own lane only."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.lanes: dict[str, Lane] = {}

    def add(self, lane: str, kind: str, text: str) -> None:
        found = self.lanes.get(lane)
        if found is None:
            found = self.lanes.setdefault(lane, Lane(lane))
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


def write(
    root: Path,
    test: str,
    message: str,
    timeline: Timeline,
    threads: list[tuple[threading.Thread, float, float | None]],
) -> Path:
    """Draw the failed ``test``; return the page's absolute path."""
    if not timeline.failures():
        timeline.add("checks", "failure", message)
    out = folder(root).resolve()
    out.mkdir(parents=True, exist_ok=True)
    path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", test).strip("_") + ".html")
    path.write_text(render(test, message, timeline, threads), encoding="utf-8")
    return path


# ----- drawing -------------------------------------------------------------------

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.2em; } pre { white-space: pre-wrap; background: #fff3f3;
  border-left: 4px solid #c00; padding: .6em; }
.axis, .lane { position: relative; height: 26px; margin-left: 14em;
  border-bottom: 1px solid #eee; }
.name { position: absolute; left: -14em; width: 13.5em; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; line-height: 26px; }
.mark { position: absolute; top: 7px; width: 3px; height: 12px; }
.sent { background: #2a6fdb; } .received { background: #2e9e4f; }
.dropped { background: #e3a008; height: 18px; top: 4px; width: 5px; }
.closed { background: #555; width: 5px; } .note { background: #999; }
.failure { background: #d00; width: 8px; height: 22px; top: 2px; }
.bar { position: absolute; top: 8px; height: 10px; background: #b9c7e6; }
.bar.running { background: #e88; }
.bar.unjoined { background: repeating-linear-gradient(45deg, #b9c7e6, #b9c7e6 4px,
  #fff 4px, #fff 8px); }
.tick { position: absolute; top: 0; font-size: 11px; color: #777; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
table { border-collapse: collapse; margin-top: .5em; } td { padding: 2px 8px;
  border-bottom: 1px solid #eee; vertical-align: top; font-family: monospace; }
tr.row-failure td { background: #fdd; font-weight: bold; }
"""


def render(
    test: str,
    message: str,
    timeline: Timeline,
    threads: list[tuple[threading.Thread, float, float | None]],
) -> str:
    end = max(
        [time.monotonic()]
        + [e.when for lane in timeline.lanes.values() for e in lane.events]
    )
    span = max(end - timeline.start, 1e-6)

    def x(when: float) -> float:
        return max(0.0, min(100.0, (when - timeline.start) / span * 100))

    rows = [_axis(span)]
    rows += [_client_lane(lane, x) for lane in timeline.lanes.values()]
    rows += [
        _thread_lane(thread, started, joined, x) for thread, started, joined in threads
    ]
    first = min(timeline.failures(), key=lambda pair: pair[1].when, default=None)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(test)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(test)} failed</h1><pre>{html.escape(message)}</pre>"
        + _legend()
        + "".join(rows)
        + (_before(timeline, *first) if first else "")
        + "</body></html>"
    )


def _axis(span: float) -> str:
    ticks = "".join(
        f"<span class='tick' style='left:{i * 10}%'>{span * i / 10:.2f} s</span>"
        for i in range(10)
    )
    return f"<div class='axis'><span class='name'>time since start</span>{ticks}</div>"


def _client_lane(lane: Lane, x) -> str:
    marks = "".join(
        f"<span class='mark {e.kind}' style='left:{x(e.when):.3f}%' "
        f"title='{html.escape(e.kind + ': ' + e.text, quote=True)}'></span>"
        for e in lane.events
    )
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(lane.counts.items()))
    name = html.escape(lane.name)
    return (
        f"<div class='lane client'><span class='name' title='{counts}'>{name}"
        f"</span>{marks}</div>"
    )


def _thread_lane(thread: threading.Thread, started: float, joined, x) -> str:
    if thread.is_alive():
        state, stop, what = "running", time.monotonic(), "running when it failed"
    elif joined is None:
        state, stop, what = "unjoined", time.monotonic(), "ended, never joined"
    else:
        state, stop, what = "joined", joined, "joined"
    left, right = x(started), x(stop)
    name = html.escape(f"thread {thread.name}")
    return (
        f"<div class='lane thread'><span class='name' title='{what}'>{name}</span>"
        f"<span class='bar {state}' style='left:{left:.3f}%;width:"
        f"{max(right - left, 0.3):.3f}%' title='{html.escape(what)}'></span></div>"
    )


def _legend() -> str:
    kinds = [
        ("sent", "#2a6fdb"), ("received", "#2e9e4f"),
        ("dropped (slow reader)", "#e3a008"), ("connection ended", "#555"),
        ("failure", "#d00"), ("thread alive", "#b9c7e6"),
        ("thread running when the test failed", "#e88"),
    ]  # fmt: skip
    spans = "".join(
        f"<span><i style='background:{color}'></i>{name}</span>"
        for name, color in kinds
    )
    return f"<p class='legend'>{spans}</p>"


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
