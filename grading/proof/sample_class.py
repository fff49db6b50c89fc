"""A small class of submissions of our own, for the report's tests and figures.

``write_class(folder)`` writes one submission per student, each a kind the
report must show: ``alice`` hands in the reference (full marks), ``bob`` a
server of his own whose readers touch the store (a race), ``carol`` a
copy of bob's with one line added, so that a Get is never answered (a
hang), ``dave`` a copy of alice's, renamed and reordered (``disguise``),
``erin`` a zip with nothing to grade (refused). Their partB files are the starter file
with tests of their own (``grading/proof/student_squarer_tests``), dave's again a
disguised copy of alice's.

``fabricate_results(out, students)`` writes, instead of grading, a
results.json for each as grading/submission/grade.py would (with a failure picture
where the harness makes one), so that the report can be tested in seconds.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

from grading.classroom import batch, results
from grading.proof.student_squarer_tests import student_text

KIT_ROOT = Path(__file__).resolve().parents[2]

# bob's server, written from the contract alone: not the reference's design
# nor its words. The readers run requests on the store themselves: a race.
OWN_SERVER = '''\
"""A key-value server: the keeper thread owns the client list; each client
has an ear (reads its lines) and a mouth (sends its replies)."""

import queue
import socket
import threading

from partA.kvstore import KVStore

MAX_OUTBOX = 500
DONE = object()


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.jobs = queue.Queue()
        self.sock = None
        self.workers = []
        self.peers = {}
        self.gone = 0
        self.state = "new"

    def start(self, port: int, host: str = "127.0.0.1") -> int:
        if self.state != "new":
            raise RuntimeError("start() called twice, or after close()")
        self.sock = socket.create_server((host, port))
        self.state = "running"
        self.spawn("keeper", self.keep)
        self.spawn("doorman", self.welcome)
        return self.sock.getsockname()[1]

    def spawn(self, name, loop, *args):
        worker = threading.Thread(target=loop, args=args, name=name)
        self.workers.append(worker)
        worker.start()

    def count_active(self) -> int:
        return self.ask("active")

    def count_dropped(self) -> int:
        return self.ask("dropped")

    def ask(self, what):
        answer = queue.Queue(1)
        self.jobs.put((what, answer))
        return answer.get(timeout=5)

    def close(self) -> None:
        if self.state != "running":
            self.state = "closed"
            return
        self.state = "closed"
        self.sock.shutdown(socket.SHUT_RDWR)
        self.workers[1].join()
        self.sock.close()
        self.jobs.put(("stop", None))
        for worker in list(self.workers):
            worker.join()

    def welcome(self):
        number = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            number += 1
            outbox = queue.Queue(MAX_OUTBOX)
            self.jobs.put(("joined", (number, conn, outbox)))
            self.spawn(f"ear-{number}", self.listen, number, conn)
            self.spawn(f"mouth-{number}", self.speak, conn, outbox)

    def listen(self, number, conn):
        pending = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\\n")
            for line in lines:
                self.handle(number, line.rstrip(b"\\r"))
        self.jobs.put(("left", number))

    def speak(self, conn, outbox):
        while (reply := outbox.get()) is not DONE:
            try:
                conn.sendall(reply)
            except OSError:
                pass
        conn.close()

    def keep(self):
        while True:
            what, data = self.jobs.get()
            if what == "stop":
                for number in list(self.peers):
                    self.drop(number)
                return
            if what == "joined":
                self.peers[data[0]] = data[1:]
            elif what == "left" and data in self.peers:
                self.drop(data)
                self.gone += 1
            elif what == "active":
                data.put(len(self.peers))
            elif what == "dropped":
                data.put(self.gone)

    def drop(self, number):
        conn, outbox = self.peers.pop(number)
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        while True:
            try:
                outbox.put_nowait(DONE)
                return
            except queue.Full:
                outbox.get_nowait()

    def handle(self, number, line):
        command, _, rest = line.decode("utf-8", "replace").partition(":")
        fields = rest.split(":")
        if command == "Put" and len(fields) == 2:
            self.store.put(fields[0], fields[1].encode())
        elif command == "Delete" and len(fields) == 1:
            self.store.delete(fields[0])
        elif command == "Update" and len(fields) == 3:
            self.store.update(fields[0], fields[1].encode(), fields[2].encode())
        elif command == "Get" and len(fields) == 1:
            outbox = self.peers[number][1]
            for value in self.store.get(fields[0]):
                if not outbox.full():
                    outbox.put(fields[0].encode() + b":" + value + b"\\n")
'''
# carol's: bob's server, but a Get is never answered: clients wait for ever.
HANGING_SERVER = OWN_SERVER.replace(
    "            for value in self.store.get(fields[0]):",
    "            threading.Event().wait()\n"
    "            for value in self.store.get(fields[0]):",
)
KEEP = {"self", "KeyValueServer", "start", "close", "count_active", "count_dropped"}


def disguise(text: str) -> str:
    """A copy that hides where it came from: every private name and local
    variable renamed, the functions of the module and of each class in
    reverse order, the comments gone and the layout redone (``ast.unparse``).
    """
    tree = ast.parse(text)
    renames = {name: f"q{index}_{name[::-1].strip('_')}" for index, name in
               enumerate(sorted(_renamable(tree)))}  # fmt: skip
    _Renamer(renames).visit(tree)
    for node in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
        _reverse_functions(node)
    return ast.unparse(tree) + "\n"


def _renamable(tree: ast.AST) -> set[str]:
    """The names a copier can change without breaking the file: private
    ones, and local variables (not a call's keyword: those are not ours)."""
    keywords = {node.arg for node in ast.walk(tree) if isinstance(node, ast.keyword)}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Attribute):
            name = node.name if not isinstance(node, ast.Attribute) else node.attr
            names |= (
                {name} if name.startswith("_") and not name.startswith("__") else set()
            )
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {
        n for n in names - KEEP - keywords if not n.isupper() and not n.startswith("__")
    }


class _Renamer(ast.NodeTransformer):
    def __init__(self, renames: dict[str, str]) -> None:
        self.renames = renames

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field in ("id", "arg", "attr", "name"):
            value = getattr(node, field, None)
            if isinstance(value, str) and value in self.renames:
                setattr(node, field, self.renames[value])
        return super().generic_visit(node)


def _reverse_functions(node: ast.Module | ast.ClassDef) -> None:
    slots = [i for i, s in enumerate(node.body) if isinstance(s, ast.FunctionDef)]
    functions = [node.body[i] for i in slots]
    for slot, function in zip(slots, reversed(functions), strict=True):
        node.body[slot] = function


def squarer_tests(name: str) -> str:
    """The starter test file followed by the tests in student_squarer_tests,
    formatted as a careful student keeps it (full marks keep the format point)."""
    return student_text(name)


def write_class(folder: Path) -> dict[str, Path]:
    """One submission per student in ``folder`` (see the module's docstring)."""
    reference = (KIT_ROOT / "partA" / "server.py").read_text()
    alice_tests = squarer_tests("honest_long")
    files = {
        "alice": (reference, alice_tests),
        "bob": (OWN_SERVER, squarer_tests("over_specified")),
        "carol": (HANGING_SERVER, squarer_tests("sleep_ordered")),
        "dave": (disguise(reference), disguise(alice_tests)),
    }
    found = {}
    for student, (server, tests) in files.items():
        found[student] = folder / student
        for name, text in (
            ("partA/server.py", server),
            ("partB/test_squarer.py", tests),
        ):
            (folder / student / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / student / name).write_text(text)
    with zipfile.ZipFile(folder / "erin.zip", "w") as archive:
        archive.writestr("notes.txt", "I will hand it in tomorrow")
    found["erin"] = folder / "erin.zip"
    return found


# Results as grading/submission/grade.py writes them, made up for speed.

PARTA_TESTS = [
    *(("TestBasic", f"test_basic{n}") for n in range(1, 7)),
    ("TestCount", "test_count1"),
    ("TestCount", "test_count2"),
    ("TestSlowClient", "test_slow_client1"),
    ("TestSlowClient", "test_slow_client2"),
]
RACE = (
    "two threads used the store at the same time: ear-{n} and ear-{m} were both "
    "in put(). The store is not thread-safe: only one thread (its owner) may ever "
    "call it."
)
HANG = "client {n} waited 20 s for reply 1 of 3 to Get ('Get:key{n}') and got nothing"
# How each kind of student fares: failed partA tests (number: message), partB
# points, seconds.
KINDS = {
    "full marks": ({}, 5.0, 40.0),
    "race": ({n: RACE for n in (3, 4, 5, 6, 9)}, 3.75, 45.0),
    "hang": ({n: HANG for n in range(2, 11)}, 0.0, 330.0),
    "copy": ({}, 5.0, 41.0),
}


def fabricated_report(kind: str, seed: int = 1) -> dict:
    """A results.json of a student of ``kind`` (KINDS, or "refused")."""
    if kind == "refused":
        return _refused_report()
    failing, partB, seconds = KINDS[kind]
    if kind == "race":  # races strike where they will
        failing = {n: why for n, why in failing.items() if (n + seed) % 3}
        partB = [5.0, 3.75, 2.5][seed % 3]
    tests = []
    for number, (suite, name) in enumerate(PARTA_TESTS, start=1):
        why = failing.get(number, "").format(n=seed % 7 + 1, m=seed % 5 + 8)
        test = _entry(f"partA {suite}.{name}", f"1.{number}", 0 if why else 1, 1, why)
        if kind == "race" and why:
            test["extra_data"] = {"pictures": [f"pictures/{name}.html"]}
        tests.append(test)
    tests += [
        _entry("partB squarer tests (wheats and chaffs)", "2.1", partB, 5,
               "caught 3 of 8 chaffs" if partB < 5 else "caught every chaff"),
        _entry("format (ruff format --check)", "3.1", 1, 1, "both files are formatted"),
        _entry("course rules (no locks, no processes: threads and queues only)",
               "4.1", 0, 0, "partA/server.py: no forbidden names"),
    ]  # fmt: skip
    score = sum(test["score"] for test in tests)
    return {"score": score, "execution_time": seconds, "output": "",
            "extra_data": {"status": "graded"}, "tests": tests}  # fmt: skip


def _entry(name: str, number: str, score: float, most: float, output: str) -> dict:
    status = "passed" if score >= most else "failed"
    return {"name": name, "number": number, "score": score, "max_score": most,
            "status": status, "output": output or "passed"}  # fmt: skip


def _refused_report() -> dict:
    why = "none of the files to grade is in it:\npartA/server.py: missing"
    tests = [
        _entry(f"partA {suite}.{name}", f"1.{n}", 0, 1, f"not graded: {why}")
        for n, (suite, name) in enumerate(PARTA_TESTS, start=1)
    ]
    return {"score": 0, "execution_time": 0.2,
            "output": f"This submission could not be graded: {why}",
            "extra_data": {"status": "refused"}, "tests": tests}  # fmt: skip


def fabricate_results(out: Path, kinds: dict[str, str]) -> list[results.Outcome]:
    """Write a results.json (and the pictures it lists) for each student of
    ``kinds`` (student: kind) under ``out``, as batch lays them out; return
    batch's outcomes, slowest kinds taking their time."""
    outcomes = []
    for seed, (student, kind) in enumerate(sorted(kinds.items())):
        report = fabricated_report(kind, seed)
        folder = out / student
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(report, indent=2))
        (folder / "grader.log").write_text("grading...\n")
        for test in report["tests"]:
            for picture in test.get("extra_data", {}).get("pictures", []):
                (folder / picture).parent.mkdir(exist_ok=True)
                (folder / picture).write_text(f"<p>{test['name']}: the threads</p>")
        seconds = float(report["execution_time"]) + seed % 3
        status = results.status_of(report)
        outcomes.append(
            results.outcome_of(
                student, report, seconds, status, folder / "results.json"
            )
        )
    return outcomes


# A larger class, for figures: ``python -m grading.proof.sample_class OUT [SIZE]``.

MADE_UP = (
    "grading/proof/sample_class.py wrote them (fabricate_results), to time and "
    "test the page"
)

MIX = ("full marks", "race", "full marks", "copy", "race", "hang", "full marks")


def write_large_class(folder: Path, size: int = 20) -> dict[str, str]:
    """``size`` submissions made of the small class's five (alice1, bob1,
    ...), one hang and one refusal in ten; their kinds, by student."""
    five = write_class(folder / ".five")
    kinds = {"alice": "full marks", "bob": "race", "carol": "hang",
             "dave": "copy", "erin": "refused"}  # fmt: skip
    found = {}
    for number in range(size):
        kind = "refused" if number % 10 == 9 else MIX[number % len(MIX)]
        student = next(name for name, k in kinds.items() if k == kind)
        name = f"{student}{number + 1:02}"
        source = five[student]
        target = folder / (name + source.suffix)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
        found[name] = kind
    shutil.rmtree(folder / ".five")
    return found


def main(argv: list[str]) -> int:
    """Write a class of SIZE (default 20) into OUT, make up its results, and
    time the report of it: ``python -m grading.proof.sample_class OUT [SIZE]``."""
    from grading.classroom import report_html

    out = Path(argv[0])
    kinds = write_large_class(out / "class", int(argv[1]) if argv[1:] else 20)
    outcomes = fabricate_results(out / "class-results", kinds)
    started = time.monotonic()
    page = report_html.write_report(
        outcomes,
        out / "class-results" / "report.html",
        batch.find_submissions(out / "class"),
        made_up=MADE_UP,
    )
    print(f"{page}: {len(kinds)} submissions, in {time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
