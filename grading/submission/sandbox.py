"""Run a command on student code, contained: ``run(command, ...)``.

Theory of operation
-------------------
The grader never runs student code in its own process. ``run()`` starts this
file as a small launcher, in a session (and so a process group) of its own,
and the launcher sets the stage before it executes the command:

1. Namespaces, where the machine allows them: a network namespace of its own
   whose only interface is loopback (brought up, so 127.0.0.1 works and
   nothing else is reachable), a PID namespace (when its first process ends,
   the kernel kills every process left in it, even those that left the
   process group), and a mount namespace with fresh ``/proc`` and ``/sys``,
   so ``/sys/class/net`` lists only ``lo``. As root it asks for them
   directly; as any other user it asks for a user namespace too, which
   unprivileged users may create on most Linux machines.
2. Limits (rlimits) on the command's processes: CPU seconds, address space,
   file size, no core files, and the number of processes and threads.
3. Privileges: when the grader runs as root, the command runs as a user id
   of its own (``user="auto"``: one per run at once, so that runs cannot
   signal each other and the process limit, which root ignores, holds), or
   as a named user such as ``nobody``. It can read the kit, write only the
   folders it is given, and cannot signal the grader.

Meanwhile the grader reads the command's output as it comes, keeping only the
first and last halves of ``output_bytes``, and waits at most ``wall_seconds``:
then it sends SIGTERM to the whole group, and SIGKILL a moment later. A run
that prints more than ``output_limit_bytes`` is stopped there and then
(SIGKILL to the group): a flood of output costs the grader nothing more.

``hidden`` folders (the instructor tree) are covered, in the run's own mount
namespace, by an empty folder that nobody may read, so the command cannot read
the reference solutions even where the files are open to every user.

Fallbacks, each recorded in ``Outcome.isolation`` (and never silent): without
namespaces (no permission, not Linux) the command shares the machine's
network and ``isolation.network`` is False; without root, it runs as the
grader's own user, so the process limit counts the grader's processes too.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE = 2, 4, 8, 0x1000, 0x2000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
MIB = 1024 * 1024


class SandboxError(RuntimeError):
    """The sandbox could not be set up (not: the command failed)."""


@dataclass(frozen=True)
class Limits:
    """What one run may take. Sizes in MiB, except ``output_bytes``."""

    wall_seconds: float
    cpu_seconds: int = 300
    memory_mib: int = 4096
    processes: int = 512
    file_size_mib: int = 64
    output_bytes: int = 65536
    output_limit_bytes: int = 655360  # then the run is stopped; 0: never

    @classmethod
    def from_settings(cls, sandbox, wall_seconds: float) -> Limits:
        """The limits of a ``settings.Sandbox``, with this wall clock."""
        return cls(
            wall_seconds,
            sandbox.cpu_seconds,
            sandbox.memory_mib,
            sandbox.processes,
            sandbox.file_size_mib,
            sandbox.output_bytes,
            sandbox.output_limit_bytes,
        )


@dataclass(frozen=True)
class Isolation:
    """What isolation was in force for a run."""

    network: bool  # a network namespace with loopback only
    pids: bool  # a PID namespace: no process outlived the run
    user: str  # who ran the command, e.g. "uid 61003" or "root"
    notes: tuple[str, ...]  # each fallback taken, in words


@dataclass(frozen=True)
class Outcome:
    """How a run ended, and what it printed (truncated)."""

    returncode: int | None  # None: it did not end by itself (see timed_out)
    signal: str | None  # the signal that ended it, e.g. "SIGXCPU"
    timed_out: bool  # stopped at the wall clock
    output: str  # stdout and stderr together, the middle left out if long
    output_bytes: int  # all it printed
    seconds: float
    isolation: Isolation
    limits: Limits
    flooded: bool = False  # stopped for printing over output_limit_bytes

    @property
    def truncated(self) -> bool:
        return self.output_bytes > self.limits.output_bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """How it ended, in words: "exited with code 1", "was stopped after..."."""
        if self.flooded:
            limit = self.limits.output_limit_bytes
            return f"was stopped: printed more than {limit} bytes"
        if self.timed_out:
            return f"was stopped after {self.limits.wall_seconds:g} s (wall clock)"
        if self.signal == "SIGXCPU" or (
            self.signal == "SIGKILL" and self.seconds >= self.limits.cpu_seconds
        ):
            return f"was killed for using {self.limits.cpu_seconds} s of CPU"
        if self.signal == "SIGXFSZ":
            return f"was killed for writing a file over {self.limits.file_size_mib} MiB"
        if self.signal == "SIGKILL":  # not ours: the kernel's, most likely
            return "was killed by SIGKILL (most likely: it ran out of memory)"
        if self.signal:
            return f"was killed by {self.signal}"
        return f"exited with code {self.returncode}"


def run(
    command: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    limits: Limits,
    readable: Sequence[Path] = (),
    writable: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
    network: str = "private",
    user: str = "auto",
    uid_base: int = 61000,
    uid_count: int = 256,
) -> Outcome:
    """Run ``command`` in ``cwd``, contained; return how it ended.

    ``readable`` trees are opened to every user (read only), ``writable``
    ones given to the user who runs the command. ``network``: "private" or
    "host"; ``user``: "auto", a user name, or "" for no change; ``hidden``
    folders are out of the command's sight where a mount namespace can be
    had (else a note says so). Never raises
    for what the command does; raises ``SandboxError`` if no user id is free.
    """
    started = time.monotonic()
    with _identity(user, uid_base, uid_count) as (uid, gid, who), _private() as folder:
        for tree in readable:
            open_to_all(tree)
        if uid is not None:
            for tree in writable:
                _give(tree, uid, gid)
        status = folder / "status.jsonl"
        config = {
            "network": network,
            "uid": uid,
            "gid": gid,
            "status": str(status),
            "limits": limits.__dict__,
            "hidden": [str(Path(path).resolve()) for path in hidden],
        }
        launch = [sys.executable, "-I", __file__, json.dumps(config), "--", *command]
        returncode, timed_out, flooded, output, total = _supervise(
            launch, cwd, env, limits
        )
        if user == "auto" and uid is not None:
            _kill_user(uid)  # belt and braces: none survive a PID namespace
        report = _read_status(status)
    isolation = Isolation(
        network=report.get("network", False),
        pids=report.get("pids", False),
        user="root" if report.get("as_root") else who,
        notes=tuple(
            report.get("notes", ["the launcher did not start"])
            + report.get("more_notes", [])
        ),
    )
    signal_name = _signal_of(returncode, report)
    if flooded:
        signal_name = None  # our SIGKILL: describe() says why
    if signal_name or timed_out or flooded:
        returncode = None
    return Outcome(
        returncode,
        signal_name,
        timed_out,
        output,
        total,
        time.monotonic() - started,
        isolation,
        limits,
        flooded,
    )


# ----- the grader's side -------------------------------------------------------


@contextlib.contextmanager
def _identity(
    user: str, uid_base: int, uid_count: int
) -> Iterator[tuple[int | None, int | None, str]]:
    """The (uid, gid, description) to run as; uid None: stay who we are."""
    if os.geteuid() != 0 or not user:
        yield None, None, _whoami()
        return
    if user != "auto":
        import pwd

        entry = pwd.getpwnam(user)
        yield entry.pw_uid, entry.pw_gid, user
        return
    with _uid_slot(uid_base, uid_count) as uid:
        _kill_user(uid)  # anything left by a grader that crashed
        yield uid, uid, f"uid {uid}"


def _whoami() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


@contextlib.contextmanager
def _uid_slot(base: int, count: int) -> Iterator[int]:
    """Hold a user id no other run holds (a lock file each, across processes)."""
    locks = Path(tempfile.gettempdir()) / "p0-grader-uids"
    locks.mkdir(mode=0o700, exist_ok=True)
    busy = _uids_running()  # held by a grader whose /tmp is not ours (a chroot)
    for uid in range(base, base + count):
        if uid in busy:
            continue
        fd = os.open(locks / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # and so the lock goes
        return
    raise SandboxError(f"all {count} sandbox user ids from {base} are in use")


@contextlib.contextmanager
def _private() -> Iterator[Path]:
    """A folder only the grader can read, for the launcher's status file."""
    with tempfile.TemporaryDirectory(prefix="p0-sandbox-") as folder:
        yield Path(folder)


def open_to_all(tree: Path) -> None:
    """Let every user read ``tree`` (folders 755, files 644); write nothing."""
    paths = [tree, *tree.rglob("*")] if tree.is_dir() else [tree]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if not path.is_symlink():
                os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _give(tree: Path, uid: int, gid: int | None) -> None:
    for path in [tree, *tree.rglob("*")]:
        os.lchown(path, uid, -1 if gid is None else gid)


def _supervise(
    launch: list[str], cwd: Path, env: dict[str, str], limits: Limits
) -> tuple[int | None, bool, bool, str, int]:
    """Run the launcher.

    Returns (returncode, timed out, flooded, output kept, bytes printed).
    """
    child = subprocess.Popen(
        launch,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = _Output(
        limits.output_bytes,
        limits.output_limit_bytes,
        lambda: _signal_group(child.pid, signal.SIGKILL),
    )
    reader = threading.Thread(
        target=output.drain, args=(child.stdout,), name="sandbox-output", daemon=True
    )
    reader.start()
    timed_out = False
    try:
        child.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        _signal_group(child.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=TERM_GRACE)
    _signal_group(child.pid, signal.SIGKILL)  # whatever is left of the group
    child.wait()
    reader.join(timeout=5)  # a process that escaped could hold the pipe open
    flooded = output.flooded
    return (
        child.returncode,
        timed_out and not flooded,
        flooded,
        output.text(),
        output.total,
    )


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, number)


class _Output:
    """The first and last halves of at most ``cap`` bytes, and the total.

    Past ``limit`` bytes (0: no limit), ``stop()`` is called once and reading
    ends: the writers are stopped, and what they printed last is dropped.
    """

    def __init__(self, cap: int, limit: int = 0, stop=None) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.limit = limit
        self.stop = stop
        self.flooded = False

    def drain(self, pipe) -> None:
        with pipe:
            while chunk := pipe.read1(65536):
                if self.limit and self.total + len(chunk) > self.limit:
                    chunk = chunk[: self.limit - self.total]
                    self.flooded = True
                self.total += len(chunk)
                room = self.half - len(self.head)
                self.head += chunk[:room]
                self.tail += chunk[room:] if room > 0 else chunk
                del self.tail[: -self.half]
                if self.flooded:
                    if self.stop:
                        self.stop()
                    return

    def text(self) -> str:
        left_out = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {left_out} bytes left out ...]\n" if left_out > 0 else ""
        return (self.head + middle.encode() + self.tail).decode(errors="replace")


def _kill_user(uid: int) -> None:
    """SIGKILL every process whose real or effective user is ``uid``."""
    for _ in range(20):  # a process may fork while we look
        found = False
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and uid in _uids_of(entry):
                found = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.05)


def _uids_running() -> set[int]:
    """The users of every process running now (none where there is no /proc)."""
    with contextlib.suppress(OSError):
        processes = [e for e in Path("/proc").iterdir() if e.name.isdigit()]
        return set().union(*map(_uids_of, processes))
    return set()


def _uids_of(process: Path) -> set[int]:
    try:
        for line in (process / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                return {int(field) for field in line.split()[1:3]}
    except (OSError, ValueError):
        pass
    return set()


def _read_status(status: Path) -> dict:
    report: dict = {}
    with contextlib.suppress(OSError):
        for line in status.read_text().splitlines():
            with contextlib.suppress(ValueError):
                report |= json.loads(line)
    return report


def _signal_of(returncode: int | None, report: dict) -> str | None:
    number = report.get("signal")
    if number is None and returncode is not None and returncode < 0:
        number = -returncode
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ----- the launcher's side (this file run as a script) -------------------------


def _launch(config: dict, command: list[str]) -> None:
    """Set the stage, then become ``command``; never returns."""
    notes: list[str] = []
    _first_to_go()
    namespaces = _enter_namespaces(config, notes)
    network = bool(namespaces & CLONE_NEWNET) and _loopback_up(notes)
    status = {"network": network, "pids": bool(namespaces & CLONE_NEWPID)}
    if config["uid"] is None and os.geteuid() != 0:
        notes.append("not root: the command runs as the grader's own user")
    _write_status(config, status | {"notes": notes})
    if namespaces & CLONE_NEWPID:
        _be_init(config, command, mount=bool(namespaces & CLONE_NEWNS))
    if config["hidden"]:
        _write_status(config, {"more_notes": [_NOT_HIDDEN]})
    if config["uid"] is not None and not all(map(_reachable, _python_homes())):
        _run_as_root(config, f"{sys.base_prefix} is closed to other users")
    _become(config, command)


def _first_to_go() -> None:
    """Be the first the kernel kills when memory runs out, not the grader.

    In a container with little memory (Gradescope's 768 MB), a submission
    that eats it all is then the one killed, and the grader lives on to say
    so; any process may raise its own score. Not on systems without it.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000")


def _enter_namespaces(config: dict, notes: list[str]) -> int:
    """Unshare what we may; return the CLONE_ flags in force."""
    if config["network"] != "private":
        notes.append("network isolation is off (settings: network = host)")
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    wanted = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS
    root = os.geteuid() == 0
    for flags in (wanted, CLONE_NEWNET | CLONE_NEWPID, CLONE_NEWNET):
        extra = 0 if root else CLONE_NEWUSER
        if libc.unshare(flags | extra) == 0:
            if not root:
                _map_own_ids()
            if flags != wanted:
                notes.append("only some namespaces were allowed")
            return flags
        error = ctypes.get_errno()
    notes.append(
        f"no network namespace ({os.strerror(error)}): the command shares "
        "the machine's network"
    )
    return 0


def _map_own_ids() -> None:
    """In a new user namespace, keep our ids (and so drop the powers at exec)."""
    uid, gid = os.getuid(), os.getgid()
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _loopback_up(notes: list[str]) -> bool:
    """Bring up ``lo`` in our new network namespace (it starts down)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            request = struct.pack("16sH14s", b"lo", 0, b"")
            got = fcntl.ioctl(probe, siocgifflags, request)
            flags = struct.unpack("16sH", got[:18])[1] | iff_up
            fcntl.ioctl(probe, siocsifflags, struct.pack("16sH14s", b"lo", flags, b""))
        return True
    except OSError as error:
        notes.append(f"loopback could not be brought up: {error}")
        return False


def _be_init(config: dict, command: list[str], *, mount: bool) -> None:
    """Fork the first process of the new PID namespace, which runs the command.

    The first process waits for the command, records how it ended and exits,
    and with it ends every process left in the namespace.
    """
    first = os.fork()
    if first:
        _wait_and_exit(first)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
    private = mount and _fresh_proc_and_sys()
    if config["hidden"]:
        stage = Path(config["status"]).parent
        notes = _hide(config["hidden"], stage) if private else [_NOT_HIDDEN]
        if notes:
            _write_status(config, {"more_notes": notes})
    if private and config["uid"] is not None:
        _reach_interpreter(Path(config["status"]).parent)
    if config["uid"] is not None and not all(map(_reachable, _python_homes())):
        _run_as_root(config, f"{sys.base_prefix} is closed to other users")
    worker = os.fork()
    if worker == 0:
        _become(config, command)
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == worker:
            break
    if os.WIFSIGNALED(code):
        _write_status(config, {"signal": os.WTERMSIG(code)})
        os._exit(128 + os.WTERMSIG(code))
    os._exit(os.waitstatus_to_exitcode(code))


def _wait_and_exit(child: int) -> None:
    while True:
        try:
            _, code = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(code) if os.WIFEXITED(code) else 1)


def _fresh_proc_and_sys() -> bool:
    """Mount /proc and /sys as the new namespaces see them (if allowed).

    Returns whether our mounts are private (so we may mount more).
    """
    if _mount(None, "/", None, MS_REC | MS_PRIVATE) != 0:
        return False
    safe = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _mount("proc", "/proc", "proc", safe)
    _mount("sysfs", "/sys", "sysfs", safe)
    return True


_NOT_HIDDEN = "no mount namespace: the instructor tree is not hidden"


def _hide(folders: list[str], stage: Path) -> list[str]:
    """Cover each folder with an empty one nobody may read; notes on failures.

    A folder that holds the working folder stays in sight. One that holds
    Python (a virtual environment made inside the instructor tree, as the
    README makes it) is covered all the same, with only the way to that
    Python left open in it (see ``_cover_all_but``).
    """
    notes = []
    here = Path.cwd().resolve()
    for folder in map(Path, folders):
        homes = [home for home in _python_homes() if home.is_relative_to(folder)]
        if here.is_relative_to(folder):
            notes.append(f"{folder} holds the working folder: not hidden")
        elif not folder.is_dir():
            continue
        elif homes and not _cover_all_but(folder, homes, stage):
            notes.append(f"{folder} holds Python and could not be hidden")
        elif not homes and _mount(
            "tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000"
        ):
            notes.append(f"{folder} could not be hidden")
    return notes


def _cover_all_but(folder: Path, homes: list[Path], stage: Path) -> bool:
    """Cover ``folder`` with an empty one that others may pass through but not
    list, holding only ``homes`` (bound from the real ones) at their places."""
    held = []
    for home in homes:
        hold = Path(tempfile.mkdtemp(dir=stage))
        if _mount(str(home), str(hold), None, MS_BIND | MS_REC) != 0:
            return False
        held.append((home, hold))
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _mount("tmpfs", str(folder), "tmpfs", flags, "mode=711") != 0:
        return False
    for home, hold in held:
        place = folder / home.relative_to(folder)
        for part in reversed([place, *place.parents]):
            if part.is_relative_to(folder) and not part.exists():
                part.mkdir()
                os.chmod(part, 0o711)
        if _mount(str(hold), str(place), None, MS_MOVE) != 0:
            return False
    return True


def _mount(
    source: str | None,
    target: str,
    kind: str | None,
    flags: int,
    data: str | None = None,
) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    names = [
        None if text is None else os.fsencode(text)
        for text in (source, target, kind, data)
    ]
    return libc.mount(*names[:3], flags, names[3])


def _python_homes() -> list[Path]:
    """Where Python lives: a venv's folder, and the Python it was made from."""
    homes = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    return list(dict.fromkeys(homes))


def _reachable(path: Path) -> bool:
    """Can any user reach ``path`` (every folder above it open to others)?"""
    return all(os.stat(folder).st_mode & 0o001 for folder in path.parents)


def _reach_interpreter(stage: Path) -> None:
    """Let the command's user reach Python when a folder above it is closed.

    In our own mount namespace, the closed folder (say /root, mode 700) is
    covered by an empty, open one, which holds only the way to Python: the
    rest of that folder stays out of sight.
    """
    for target in _python_homes():
        _open_the_way(target, stage)


def _open_the_way(target: Path, stage: Path) -> None:
    for _ in range(4):  # one closed folder at a time, from the top
        closed = next((f for f in reversed(target.parents) if _closed(f)), None)
        if closed is None:
            return
        inner = closed / target.relative_to(closed).parts[0]
        hold = Path(tempfile.mkdtemp(dir=stage))
        if _mount(str(inner), str(hold), None, MS_BIND | MS_REC) != 0:
            return
        if _mount("tmpfs", str(closed), "tmpfs", MS_NOSUID | MS_NODEV) != 0:
            return
        os.chmod(closed, 0o755)
        (closed / inner.name).mkdir()
        _mount(str(hold), str(closed / inner.name), None, MS_MOVE)


def _closed(folder: Path) -> bool:
    return folder != Path("/") and not os.stat(folder).st_mode & 0o001


def _run_as_root(config: dict, why: str) -> None:
    config["uid"] = config["gid"] = None
    note = f"{why}: the command runs as root, and root ignores the process limit"
    _write_status(config, {"more_notes": [note], "as_root": True})


def _become(config: dict, command: list[str]) -> None:
    """Take on the limits and the user, then execute ``command``."""
    try:
        _set_limits(config["limits"])
        if config["uid"] is not None:
            os.setgroups([])
            os.setgid(config["gid"])
            os.setuid(config["uid"])
        os.execvp(command[0], command)
    except OSError as error:
        print(f"sandbox: cannot run {command[0]}: {error}", file=sys.stderr)
        os._exit(126 if error.errno != errno.ENOENT else 127)


def _set_limits(limits: dict) -> None:
    size = {
        resource.RLIMIT_CPU: limits["cpu_seconds"],
        resource.RLIMIT_AS: limits["memory_mib"] * MIB,
        resource.RLIMIT_NPROC: limits["processes"],
        resource.RLIMIT_FSIZE: limits["file_size_mib"] * MIB,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in size.items():
        # for CPU, SIGXCPU at the limit says why; SIGKILL follows if ignored
        hard = value + 5 if which == resource.RLIMIT_CPU else value
        ceiling = resource.getrlimit(which)[1]
        if ceiling != resource.RLIM_INFINITY:
            value, hard = min(value, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (value, hard))


def _write_status(config: dict, fields: dict) -> None:
    with open(config["status"], "a", encoding="utf-8") as status:
        status.write(json.dumps(fields) + "\n")


if __name__ == "__main__":
    _launch(json.loads(sys.argv[1]), sys.argv[3:])
