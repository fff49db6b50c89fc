"""The failure page (partA/picture.py) opens in a real browser, and shows
what it must: a lane per client and per thread, the failure in red."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from partA import picture

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
