"""The failure page (partA/framework/picture.py) opens in a real browser, and shows
what it must: a lane per client and per thread, the failure in red."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from partA.framework import picture

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        pytest.skip(
            f"no headless browser here ({', '.join(BROWSERS)}): apt install chromium"
        )
    return found


def _page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KV_PICTURES_DIR", str(tmp_path / "pictures"))
    timeline = picture.Timeline()
    timeline.add("client 0", "sent", "2 request(s), the first b'Put:k:v'")
    timeline.add("slow client 1", "dropped", "3 replies owed were dropped")
    timeline.add("client 0", "failure", "client 0 waited 20 s for reply 1 of 2")
    done = threading.Thread(target=lambda: None, name="worker-1")
    done.start()
    done.join()
    threads = [(done, timeline.start, time.monotonic())]
    return picture.write(
        tmp_path, "t::test", "the failure <message>", timeline, threads
    )


def test_the_page_is_written_where_KV_PICTURES_DIR_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _page(tmp_path, monkeypatch)
    assert path.parent == (tmp_path / "pictures").resolve()
    assert path.is_absolute()
    text = path.read_text()
    assert "the failure &lt;message&gt;" in text, "the message, escaped"
    assert "http" not in text.replace("https://", "").replace("http://", ""), (
        "self-contained: nothing to fetch"
    )


def test_the_page_renders_in_a_headless_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = _browser()
    path = _page(tmp_path, monkeypatch)
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"]
    result = subprocess.run(
        [*command, path.as_uri()], capture_output=True, text=True, timeout=120
    )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert dom.count('class="lane client"') == 2, "a lane per client"
    assert "thread worker-1" in dom, "a lane per thread"
    assert "mark failure" in dom, "the failure, marked"
    assert "Where client 0 left what it was owed" in dom


def _lives() -> tuple[list[picture.ThreadLife], threading.Event]:
    """A thread still running (waiting on an Event), one that ended without
    being joined, and one joined."""
    stop = threading.Event()
    running = threading.Thread(target=stop.wait, name="coordinator")
    running.start()
    ended = threading.Thread(target=lambda: None, name="writer-3")
    ended.start()
    ended.join()
    start = time.monotonic() - 10
    lives = [
        picture.ThreadLife(ended, start, None, start + 1),  # ended at 1 s of 10
        picture.ThreadLife(running, start, waits="server.py:9 `x.wait()`: wait()"),
    ]
    return lives, stop


def test_lanes_end_where_threads_wait_or_ended() -> None:
    timeline = picture.Timeline()
    timeline.start -= 10
    lives, stop = _lives()
    try:
        page = picture.render("t::test", "failed", timeline, lives)
    finally:
        stop.set()
    assert page.index("thread coordinator") < page.index("thread writer-3"), (
        "running threads first"
    )
    assert "wait() (server.py:9 `x.wait()`)</span>" in page, "the lane ends in it"
    assert "Where the running threads wait" in page
    unjoined = re.search(
        r"class='bar unjoined' style='left:([\d.]+)%;width:([\d.]+)%", page
    )
    assert unjoined is not None, page
    assert float(unjoined.group(2)) < 20, "an ended thread stops where it ended"
    for mark in ("unjoined", "running", "sent", "received", "dropped", "closed"):
        assert mark in picture.STYLE
    legend = page.partition("class='legend'")[2].partition("</p>")[0]
    for words in ("ended, never joined", "note", "running when the test failed"):
        assert words in legend, f"no legend entry for {words!r}"


def test_a_thread_running_when_the_test_failed_is_drawn_so_after_it_ended() -> None:
    """Closing a hung test's clients may unblock the server's threads (a
    writer in sendall() to a client that does not read): the picture, drawn
    afterwards, shows them as the harness saw them when the test failed."""
    thread = threading.Thread(target=lambda: None, name="writer-1")
    thread.start()
    thread.join()
    start = time.monotonic() - 10
    seen = "server.py:530 `conn.sendall(data)`: sendall() on slow client 0's connection"
    life = picture.ThreadLife(thread, start, None, start + 9, seen, running=True)
    assert life.state == "running"
    page = picture.render("t::test", "failed", picture.Timeline(), [life])
    assert "sendall() on slow client 0&#x27;s connection" in page, page
    assert picture.ThreadLife(thread, start, None, start + 9).state == "unjoined"


def test_the_harness_keeps_where_threads_waited_when_the_test_failed() -> None:
    """``note_failure`` (called when a wait runs out, and before a failed
    test's clients are closed) keeps where each live server thread waits."""
    from partA.framework.harness import ServerUnderTest
    from partA.server import KeyValueServer

    kv = ServerUnderTest(KeyValueServer)
    try:
        kv.note_failure()
        waited = {life.thread.name: life for life in kv.threads_started()}
    finally:
        kv.close()
    assert waited, "the reference starts threads"
    assert all(life.running for life in waited.values()), waited
    assert any("accept()" in life.waits for life in waited.values()), waited
    # And what would end each wait, the picture's wait-for edges.
    assert waited["coordinator"].awaits.startswith("a put on it"), waited
    assert waited["accept-1"].awaits == "a client to connect", waited
    page = picture.render("t::test", "failed", picture.Timeline(), waited.values())
    assert "<td>a client to connect</td>" in page


def test_hundreds_of_clients_stay_readable() -> None:
    timeline = picture.Timeline()
    for n in range(300):
        timeline.add(f"client {n}", "sent", "1 request(s)")
        timeline.add(f"client {n}", "received", "b'key:value'")
    timeline.add("client 250", "failure", "client 250 waited 20 s for reply 1")
    done = []
    for n in range(200):
        thread = threading.Thread(target=lambda: None, name=f"reader-{n}")
        thread.start()
        thread.join()
        done.append(picture.ThreadLife(thread, timeline.start, time.monotonic()))
    page = picture.render("t::test", "failed", timeline, done)
    assert page.count("class='lane client'") == picture.LANES
    assert page.index(">client 250<") < page.index(">client 0<"), "involved first"
    assert "276 more clients, where nothing went wrong" in page
    assert page.count("class='lane thread") == 1, "past LANES, grouped by role"
    assert ">200 reader threads<" in page
