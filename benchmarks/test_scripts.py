"""The benchmark scripts still run, and their checks can fail.

Small runs only: a few clients for a fraction of a second. The figures they
print are not what is checked here (the benchmarks measure; tests do not
time anything), only that every run ends, is recorded, and reports errors
when a server misbehaves.
"""

from __future__ import annotations

import importlib
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from partA.kvstore import InMemoryKVStore
from partA.server import ACCEPTORS, KeyValueServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEADLINE = 120.0  # seconds for one script run; an upper bound, not a figure


def benchmark_module(name: str) -> ModuleType:
    """Import a script of benchmarks/ (they import their sibling run.py)."""
    sys.path.insert(0, str(HERE))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(HERE))


@pytest.fixture
def scale() -> ModuleType:
    return benchmark_module("scale")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=DEADLINE,
    )  # fmt: skip


def test_run_py_records_every_server(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    done = run_script(
        "benchmarks/run.py", "--clients", "2", "--reps", "1", "-d", "0.3",
        "--warmup", "0.1", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["bench"]["server"] for r in runs) == [
        "asyncio",
        "naive",
        "reference",
    ]
    for run in runs:
        assert run["errors"]["total"] == 0, run["error_samples"]
        assert run["requests_per_s"] > 0
    assert "reference / asyncio" in done.stdout


def test_run_py_before_serves_an_earlier_revision(tmp_path: Path) -> None:
    """``--before REV`` adds the reference as it was at REV, from git."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    if head.returncode:
        pytest.skip(f"not a git checkout: {head.stderr.strip()}")
    out = tmp_path / "runs.jsonl"
    done = run_script(
        "benchmarks/run.py", "--clients", "2", "--reps", "1", "-d", "0.3",
        "--warmup", "0.1", "--servers", "reference", "--before", "HEAD",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["bench"]["server"] for r in runs) == ["before", "reference"]
    for run in runs:
        assert run["errors"]["total"] == 0, run["error_samples"]
        assert run["bench"]["before"] == "HEAD"
    assert "reference / before" in done.stdout


def test_scale_py_serves_counts_and_closes(tmp_path: Path) -> None:
    out = tmp_path / "scale.jsonl"
    done = run_script(
        "benchmarks/scale.py", "--clients", "40", "--reps", "1", "--hold", "0.1",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert run["errors"] == 0
    # a reader and a writer each; the acceptors, the coordinator, the main thread
    assert run["threads"] == 2 * 40 + ACCEPTORS + 2
    assert run["close_s"] is not None, "srunner's close() lines were not seen"


@pytest.fixture
def mute_server() -> Iterator[tuple[int, list[bytes]]]:
    """Accepts connections and answers each with the bytes given, or nothing."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    answers: list[bytes] = []
    conns: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was closed: the test is over
            conns.append(conn)
            if answers:
                conn.sendall(answers[0])

    thread = threading.Thread(target=accept, name="mute-server")
    thread.start()
    yield listener.getsockname()[1], answers
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(timeout=10)
    for conn in conns:
        conn.close()


def scale_errors(scale, port: int, clients: int, timeout: float) -> list[str]:
    """scale.py's check of ``clients`` connections to ``port``."""
    socks = scale.connect_all(port, clients)
    try:
        return scale.serve_all(socks, timeout)
    finally:
        for sock in socks:
            sock.close()


def test_scale_counts_clients_never_served(scale, mute_server) -> None:
    port, _ = mute_server
    assert scale_errors(scale, port, 5, 0.5) == ["not served within 0.5 s"] * 5


def test_scale_counts_wrong_replies(scale, mute_server) -> None:
    port, answers = mute_server
    answers.append(b"scale_0:something else\n")
    errors = scale_errors(scale, port, 3, 5.0)
    assert len(errors) == 3
    assert all(error.startswith("expected b'scale_") for error in errors), errors


@pytest.fixture(scope="module")
def kvcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kvcheck.c, compiled as crosscheck.py compiles it."""
    if not shutil.which("cc"):
        pytest.skip("no C compiler (cc)")
    crosscheck = benchmark_module("crosscheck")
    return crosscheck.compile_kvcheck(tmp_path_factory.mktemp("kvcheck"))


def run_kvcheck(binary: Path, port: int, clients: int) -> tuple[int, dict]:
    done = subprocess.run(
        [str(binary), str(port), str(clients), "0.3", "0.1"],
        capture_output=True, text=True, timeout=DEADLINE,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def test_kvcheck_loads_the_reference(kvcheck: Path) -> None:
    with KeyValueServer(InMemoryKVStore()) as server:
        status, report = run_kvcheck(kvcheck, server.start(0), 4)
    assert status == 0, report
    assert report["errors"] == report["never_served"] == 0
    assert report["iterations"] > 0


def test_kvcheck_counts_never_served_and_wrong_replies(kvcheck, mute_server) -> None:
    port, answers = mute_server
    status, report = run_kvcheck(kvcheck, port, 3)
    assert (status, report["never_served"], report["errors"]) == (1, 3, 0)
    answers.append(b"k0:wrong\n")
    status, report = run_kvcheck(kvcheck, port, 3)
    assert (status, report["never_served"], report["errors"]) == (1, 0, 3)
