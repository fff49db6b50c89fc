"""Tests of the sandbox: what a contained command can and cannot do.

Nothing here sends a packet anywhere: the network tests list the interfaces
inside the sandbox and talk to 127.0.0.1 only. Every command is bounded on
its own (a loop ends after a minute) in case the sandbox failed.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import pytest

from grading.submission import sandbox
from grading.tests.test_grade import processes_running
from grading.settings import load_settings

QUICK = sandbox.Limits(wall_seconds=20, cpu_seconds=20, processes=64)
AS_ROOT = os.geteuid() == 0


def python(code: str, tmp_path: Path, limits: sandbox.Limits = QUICK, **options):
    """Run ``code`` with Python in the sandbox, in a folder it may write."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return sandbox.run(
        [sys.executable, "-c", code],
        cwd=work,
        env={"PATH": os.defpath},
        limits=limits,
        writable=[work],
        **options,
    )


def test_only_loopback_exists_inside_and_it_works(tmp_path: Path) -> None:
    code = """
import os, socket
print(sorted(name for _, name in socket.if_nameindex()))
print(sorted(os.listdir("/sys/class/net")))
with socket.create_server(("127.0.0.1", 0)) as server:
    with socket.create_connection(server.getsockname()) as client:
        client.sendall(b"ping")
        print(server.accept()[0].recv(4))
"""
    outcome = python(code, tmp_path)
    if not outcome.isolation.network:
        pytest.skip(f"no network namespace here: {outcome.isolation.notes}")
    assert outcome.output.splitlines() == ["['lo']", "['lo']", "b'ping'"]
    assert outcome.ok


def test_host_network_is_an_option_and_is_reported(tmp_path: Path) -> None:
    outcome = python("print('hi')", tmp_path, network="host")
    assert not outcome.isolation.network
    assert "network isolation is off" in " ".join(outcome.isolation.notes)


@pytest.mark.skipif(not AS_ROOT, reason="only root can change user")
def test_as_root_the_command_runs_as_a_user_of_its_own(tmp_path: Path) -> None:
    code = "import os, resource as r; print(os.getuid(), r.getrlimit(r.RLIMIT_NPROC))"
    outcome = python(code, tmp_path)
    uid, _, limit = outcome.output.partition(" ")
    assert int(uid) >= load_settings().sandbox.uid_base
    assert outcome.isolation.user == f"uid {uid}"
    assert limit.strip() == "(64, 64)"


@pytest.mark.skipif(not AS_ROOT, reason="only root can change user")
def test_the_kit_is_read_only_to_the_command(tmp_path: Path) -> None:
    # not under tmp_path, whose parents only root may enter
    with tempfile.TemporaryDirectory(prefix="p0-kit-") as folder:
        kit = Path(folder)
        (kit / "harness.py").write_text("x = 1\n")
        sandbox.open_to_all(kit)
        code = f"""
import os
print(open({str(kit / "harness.py")!r}).read().strip())
for attempt in (lambda: os.remove({str(kit / "harness.py")!r}),
                lambda: open({str(kit / "new.py")!r}, "w")):
    try:
        attempt()
    except PermissionError:
        print("refused")
"""
        outcome = python(code, tmp_path)
        assert outcome.output.split() == ["x", "=", "1", "refused", "refused"]
        assert (kit / "harness.py").exists()


def test_the_wall_clock_stops_every_process(tmp_path: Path) -> None:
    mark = f"{random.uniform(59, 60):.9f}"  # seconds to sleep, and our mark
    code = f"""
import os, time
if os.fork() == 0:
    os.setsid()  # leaves the process group: only the PID namespace catches it
    os.execv("/bin/sleep", ["/bin/sleep", "{mark}"])
time.sleep(60)
"""
    limits = sandbox.Limits(wall_seconds=1.5, processes=64)
    outcome = python(code, tmp_path, limits)
    assert outcome.timed_out
    assert outcome.describe() == "was stopped after 1.5 s (wall clock)"
    assert outcome.seconds < 10
    if outcome.isolation.pids:
        assert not processes_running(mark)


def test_output_keeps_its_first_and_last_halves(tmp_path: Path) -> None:
    code = (
        "import sys\nfor i in range(1000): sys.stdout.write(f'{i:09} ' * 1000 + '\\n')"
    )
    limits = sandbox.Limits(wall_seconds=20, output_bytes=4000, output_limit_bytes=0)
    outcome = python(code, tmp_path, limits)
    assert outcome.ok
    assert outcome.output_bytes == 1000 * 10001
    assert outcome.truncated
    assert outcome.output.startswith("000000000 000000000")
    assert outcome.output.endswith("000000999 \n")
    assert "bytes left out ..." in outcome.output
    assert len(outcome.output) < 4100


def test_a_flood_of_output_is_stopped_at_the_limit(tmp_path: Path) -> None:
    code = (
        "import sys, time\nend = time.monotonic() + 60\n"
        "while time.monotonic() < end: sys.stdout.write('flood ' * 1000)"
    )
    limits = sandbox.Limits(
        wall_seconds=30, output_bytes=4000, output_limit_bytes=40000
    )
    outcome = python(code, tmp_path, limits)
    assert outcome.flooded
    assert outcome.describe() == "was stopped: printed more than 40000 bytes"
    assert outcome.output_bytes == 40000
    assert outcome.returncode is None
    assert not outcome.timed_out
    assert outcome.seconds < 10


def test_cpu_time_is_limited(tmp_path: Path) -> None:
    code = (
        "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass"
    )
    limits = sandbox.Limits(wall_seconds=30, cpu_seconds=1)
    outcome = python(code, tmp_path, limits)
    assert outcome.signal == "SIGXCPU"
    assert outcome.describe() == "was killed for using 1 s of CPU"


def test_file_size_and_memory_are_limited(tmp_path: Path) -> None:
    code = """
try:
    open("big", "wb").write(b"x" * 3 * 2**20)
except OSError as error:
    print("write:", error.strerror)
try:
    hog = bytearray(2 * 2**30)
except MemoryError:
    print("memory: refused")
"""
    limits = sandbox.Limits(wall_seconds=20, memory_mib=512, file_size_mib=1)
    outcome = python(code, tmp_path, limits)
    assert outcome.output.splitlines() == ["write: File too large", "memory: refused"]


def test_a_command_that_cannot_start_says_so(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    outcome = sandbox.run(
        ["no-such-program-here"], cwd=work, env={"PATH": os.defpath}, limits=QUICK
    )
    assert outcome.returncode == 127
    assert "sandbox: cannot run no-such-program-here" in outcome.output
