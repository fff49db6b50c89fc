"""The student tree as a product: built by ``python -m grading handout`` and
used the way a student uses it, by the commands its own README and HANDOUT give.

For each kind of handout (each hint level; and partC turned on), the test
builds the tree, makes a fresh virtual environment in it, and runs every
command of every ``sh`` block of its README.md and HANDOUT.md (and
partC/HANDOUT.md where partC ships), in order:

- on the stubs, as handed out: the install works; every test either passes
  or fails because it meets a stub (``NotImplementedError``), and nothing
  else; srunner says which method is missing; the untouched stubs are
  formatted; the hand-in zip holds exactly the files to hand in;
- then with the reference solutions laid over the stubs: every test
  passes, the demo serves (srunner starts, crunner with piped input gets its
  replies), and ``grade`` gives the zip made as the handout says full marks.

A command the docs give that this test does not know how to run fails it,
so the docs cannot grow a step nobody has tried. The commands run as written
with two exceptions, both said where they are made: ``source
.venv/bin/activate`` becomes using the environment's python, and the demo
server gets ``--port 0`` (a fixed port could be taken on a shared machine).

The reference stage runs for the default level and for partC; at the other
levels the stub stage runs (the levels differ only in documents and the
stub's docstring, which the reference replaces).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from grading.proof import student_squarer_tests as students
from grading.student_edition.handout import ROOT, build_handout
from grading.proof.measure_squarer_tests import graded_partB
from grading.student_edition.handout_text import handin_files
from grading.settings import DEFAULT_PATH
from grading.squarers import chaffs, wheats

SECONDS = 600  # any one command, at most (the reference's whole suite: ~1 min)
DOCS = ["HANDOUT.md", "README.md", "partC/HANDOUT.md"]  # the order a student reads


@dataclasses.dataclass
class Tree:
    """A student tree, its virtual environment, and what a command run there left."""

    path: Path
    partC: bool
    stage: str = "stubs"  # "stubs", then "reference"
    log: list[str] = dataclasses.field(default_factory=list)

    @property
    def python(self) -> Path:
        if sys.platform == "win32":
            return self.path / ".venv" / "Scripts" / "python.exe"
        return self.path / ".venv" / "bin" / "python"

    @property
    def handed_in(self) -> list[str]:
        return handin_files(self.partC)

    def run(self, args: list[str], **options) -> subprocess.CompletedProcess[str]:
        """Run ``args`` in the tree, as the student's shell would, and log it."""
        environment = dict(os.environ)
        for name in ("PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV"):
            environment.pop(name, None)  # the student's shell has none of ours
        started = time.monotonic()
        result = subprocess.run(
            args,
            cwd=self.path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=SECONDS,
            **options,
        )
        self.log.append(
            f"$ {shlex.join(map(str, args))}  -> exit {result.returncode}"
            f" in {time.monotonic() - started:.1f} s"
        )
        return result


def sh_commands(text: str) -> list[str]:
    """Every command of every ```sh block in ``text``, without comments, in order."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def doc_commands(tree: Tree) -> list[tuple[str, str]]:
    """(document, command) for every command the tree's documents give."""
    return [
        (doc, command)
        for doc in DOCS
        if (tree.path / doc).is_file()
        for command in sh_commands((tree.path / doc).read_text(encoding="utf-8"))
    ]


# ----- what each command must do ----------------------------------------------


def make_venv(tree: Tree, command: str) -> None:
    result = tree.run([sys.executable, "-m", "venv", ".venv"])
    assert result.returncode == 0, f"{command}:\n{result.stderr}"


def activate(tree: Tree, command: str) -> None:
    """Activation puts the environment's python first; we call it by its path."""
    assert tree.python.is_file(), f"{command}: no {tree.python}"


def pip_install(tree: Tree, command: str) -> None:
    args = shlex.split(command)[1:]
    result = tree.run(
        [str(tree.python), *args, "--quiet", "--disable-pip-version-check"]
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}{result.stderr}"
    for module in ("pytest", "xdist", "pytest_timeout", "hypothesis", "ruff"):
        check = tree.run([str(tree.python), "-c", f"import {module}"])
        assert check.returncode == 0, f"{command} did not install {module}"
    if not tree.partC:
        check = tree.run([str(tree.python), "-c", "import psycopg"])
        assert check.returncode != 0, f"{command} installed psycopg without partC"


def pytest_run(tree: Tree, command: str) -> None:
    report = tree.path / "report.xml"
    args = [str(tree.python), *shlex.split(command)[1:], f"--junitxml={report}"]
    result = tree.run(args)
    outcome = (
        f"{command} ({tree.stage}) exited {result.returncode}:\n{result.stdout[-3000:]}"
    )
    failures = failed_tests(report)
    report.unlink()
    if tree.stage == "reference":
        assert result.returncode == 0, outcome
        return
    assert result.returncode in (0, 1), outcome
    not_stubs = {
        test: why for test, why in failures.items() if "NotImplementedError" not in why
    }
    assert not not_stubs, (
        f"{command}: on the stubs, these tests failed for a reason other than a "
        f"stub (NotImplementedError):\n"
        + "\n".join(f"  {test}: {why[:400]}" for test, why in not_stubs.items())
    )


def failed_tests(report: Path) -> dict[str, str]:
    """Each failed or errored test in a JUnit XML report, with its message."""
    found = {}
    for case in ElementTree.parse(report).iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            name = f"{case.get('classname')}::{case.get('name')}"
            found[name] = (problem.get("message") or "") + (problem.text or "")
    return found


def demo(tree: Tree, command: str) -> None:
    """srunner (on port 0: see the module's notes); with the reference, crunner
    talks to it with piped input, and Ctrl-C stops it with its counts."""
    args = [str(tree.python), *shlex.split(command)[1:], "--port", "0"]
    if tree.stage == "stubs":
        result = tree.run(args)
        assert result.returncode == 1, f"{command} on the stubs: {result}"
        assert "is not finished (NotImplementedError" in result.stderr, result.stderr
        return
    server = subprocess.Popen(
        args, cwd=tree.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(SECONDS, server.kill)  # a hang fails, never waits
    watchdog.start()
    try:
        line = server.stdout.readline()  # the server prints it once it listens
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert found, f"{command}: {line!r} {server.stderr.read() if not line else ''}"
        talk(tree, found.group(1))
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    finally:
        watchdog.cancel()
        server.kill()
        server.wait()
    tree.log.append(f"$ {shlex.join(args)}  -> exit {server.returncode}")
    assert server.returncode == 0, f"{command} stopped with {server.returncode}: {err}"
    assert "Server closed." in out, out


def talk(tree: Tree, port: str) -> None:
    """``python runners/crunner.py`` with piped input, as the docs suggest."""
    requests = "Put:fruit:apple\nPut:fruit:pear\nGet:fruit\nhelp\n"
    result = tree.run(
        [str(tree.python), "runners/crunner.py", "--port", port], input=requests
    )
    assert result.returncode == 0, result.stderr
    assert "fruit:apple\nfruit:pear" in result.stdout, result.stdout
    assert ("Subscribe" in result.stdout) == tree.partC, (
        f"crunner's help should list partC's requests only where partC ships:\n"
        f"{result.stdout}"
    )


def crunner(tree: Tree, command: str) -> None:
    """Run with the demo (``talk``): it needs a server to talk to."""


def ruff_format(tree: Tree, command: str) -> None:
    args = shlex.split(command)
    if tree.stage == "stubs":
        check = tree.run([str(tree.python), "-m", *args[:2], "--check", *args[2:]])
        assert check.returncode == 0, (
            f"the untouched stubs are not formatted:\n{check.stdout}"
        )
    result = tree.run([str(tree.python), "-m", *args])
    assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"


def zip_handin(tree: Tree, command: str) -> None:
    """``zip``, where the machine has it; else the same members with zipfile."""
    (tree.path / "handin.zip").unlink(missing_ok=True)
    args = shlex.split(command)
    if shutil.which("zip"):
        result = tree.run(args)
        assert result.returncode == 0, result.stderr
    else:
        with zipfile.ZipFile(tree.path / "handin.zip", "w") as archive:
            for member in args[2:]:
                archive.write(tree.path / member, member)
    check_handin(tree, command)


def python_zip(tree: Tree, command: str) -> None:
    (tree.path / "handin.zip").unlink(missing_ok=True)
    result = tree.run([str(tree.python), *shlex.split(command)[1:]])
    assert result.returncode == 0, result.stderr
    check_handin(tree, command)


def check_handin(tree: Tree, command: str) -> None:
    with zipfile.ZipFile(tree.path / "handin.zip") as archive:
        names = sorted(archive.namelist())
    assert names == sorted(tree.handed_in), f"{command} made a zip of {names}"


def check_squarer_tests(tree: Tree, command: str) -> None:
    """The student's check of partB: on the starter test (stubs) and on the
    reference tests, VALID, with the number of bugs the graded run looks for."""
    result = tree.run([str(tree.python), *shlex.split(command)[1:]])
    said = f"{command} ({tree.stage}) exited {result.returncode}:\n{result.stdout}"
    assert result.returncode == 0, said + result.stderr
    assert "VALID: every test passed on every correct squarer" in result.stdout, said
    runs = f"({len(wheats())} squarers, {sum(w.runs for w in wheats())} runs)"
    assert runs in result.stdout, said
    assert f"looks for {len(chaffs())} bugs" in result.stdout, said


RULES: list[tuple[str, Callable[[Tree, str], None]]] = [
    (r"python3? -m venv \.venv", make_venv),
    (r"(source|\.) \.venv/bin/activate", activate),
    (r'python -m pip install -e "\.\[test\]"', pip_install),
    (r"python -m pytest( .*)?", pytest_run),
    (r"python3? runners/srunner\.py( .*)?", demo),
    (r"python3? runners/crunner\.py", crunner),
    (r"ruff format partA/server\.py partB/test_squarer\.py", ruff_format),
    (r"zip handin\.zip( [\w/.]+)+", zip_handin),
    (r'python -c "import zipfile; .*"', python_zip),
    (r"python -m grading\.squarer_tests partB/test_squarer\.py", check_squarer_tests),
]


def run_documented(tree: Tree, commands: list[tuple[str, str]]) -> None:
    for doc, command in commands:
        handler = next((h for rule, h in RULES if re.fullmatch(rule, command)), None)
        assert handler is not None, (
            f"{doc} gives the command {command!r}, which this test does not know "
            f"how to run as a student would: add a rule for it to RULES"
        )
        handler(tree, command)


# ----- the trees ----------------------------------------------------------------

VARIANTS = [
    pytest.param("hints", False, True, id="hints"),
    pytest.param("contract", False, False, id="contract"),
    pytest.param("design", False, False, id="design"),
    pytest.param("hints", True, True, id="hints-partC"),
]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("hints", "partC", "with_reference"), VARIANTS)
def test_student_tree_works_as_its_documents_say(
    tmp_path: Path, hints: str, partC: bool, with_reference: bool
) -> None:
    tree = Tree(tmp_path / "p0", partC)
    build_handout(tree.path, partC=partC, hints=hints)
    commands = doc_commands(tree)
    assert any("pytest" in command for _, command in commands), commands
    try:
        run_documented(tree, commands)
        check_paths_named_in_docs(tree)
        if with_reference:
            tree.stage = "reference"
            lay_reference_over(tree)
            run_documented(tree, [c for c in commands if "venv" not in c[1]])
            check_grade(tree, tmp_path)
    finally:
        print("\n".join(tree.log))  # pytest shows it with a failure, or with -rP


def lay_reference_over(tree: Tree) -> None:
    for name in tree.handed_in:
        shutil.copy(ROOT / name, tree.path / name)


def check_grade(tree: Tree, tmp_path: Path) -> None:
    """``grade`` on the zip made as the handout says: full marks."""
    results = tmp_path / "results.json"
    args = [sys.executable, "-m", "grading", "grade", str(tree.path / "handin.zip")]
    args += [
        "--results",
        str(results),
        "--settings",
        str(settings_file(tree, tmp_path)),
    ]
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=SECONDS
    )
    tree.log.append(f"$ {shlex.join(args)}  -> in {time.monotonic() - started:.1f} s")
    graded = json.loads(results.read_text())
    assert graded["score"] == max_score(graded), (
        f"the reference, handed in as the handout says, got {graded['score']}:\n"
        f"{result.stdout[-4000:]}"
    )


def settings_file(tree: Tree, tmp_path: Path) -> Path:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    if tree.partC:
        text = re.sub(r"(?m)^enabled = false", "enabled = true", text)
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def max_score(graded: dict) -> float:
    return sum(test.get("max_score", 0) for test in graded["tests"])


def check_paths_named_in_docs(tree: Tree) -> None:
    """Every file or folder the documents name in `code` is in the tree."""
    for doc in DOCS:
        if not (tree.path / doc).is_file():
            continue
        text = (tree.path / doc).read_text(encoding="utf-8")
        for span in re.findall(r"`([^`\n]+)`", text):
            for word in span.split():
                if re.fullmatch(r"[\w.*-]*(/[\w.*-]+)+/?|[\w-]+\.(py|md|toml)", word):
                    if word == "handin.zip" or word.startswith(("127.", "/")):
                        continue  # made by a command, an address, the system's
                    where = word.rstrip("/")  # a bare file name: in any folder
                    found = tree.path.glob(where if "/" in where else f"**/{where}")
                    assert list(found), (
                        f"{doc} names `{word}`, which this tree does not have"
                    )


def test_sh_commands_reads_blocks_comments_and_chains() -> None:
    text = textwrap.dedent("""\
        ```sh
        a --x   # a comment
        b && c
        ```
        ```python
        not = "a command"
        ```
        """)
    assert sh_commands(text) == ["a --x", "b", "c"]


# ----- the student's check of partB agrees with the grader ----------------------

STUDENT_FILES = sorted(
    path.stem for path in students.FOLDER.glob("*.py") if path.name != "__init__.py"
)
VERDICT_LINE = re.compile(r"^(VALID|NOT VALID):", re.M)
FAILED_LINE = re.compile(r"^  (\S+) failed on the wheat '", re.M)


def verdict_of(text: str) -> tuple[str, set[str]]:
    """VALID or NOT VALID, and the tests that failed on a wheat, from a verdict."""
    [validity] = VERDICT_LINE.findall(text)
    return validity, set(FAILED_LINE.findall(text))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_students_check_gives_the_graders_verdict(tmp_path: Path) -> None:
    """In the student tree as shipped, in a fresh venv: for each student-style
    file, the documented check says what the grade says of validity."""
    tree = Tree(tmp_path / "p0", partC=False)
    build_handout(tree.path)
    make_venv(tree, "python -m venv .venv")
    pip_install(tree, 'python -m pip install -e ".[test]"')
    command = "python -m grading.squarer_tests partB/test_squarer.py"
    assert command in (tree.path / "HANDOUT.md").read_text(encoding="utf-8")
    for name in STUDENT_FILES:
        students.student_file(name, tree.path / "partB")
        checked = tree.run([str(tree.python), *shlex.split(command)[1:]])
        assert checked.returncode in (0, 1), checked.stderr
        assert f"looks for {len(chaffs())} bugs" in checked.stdout
        graded = graded_partB(name).output
        said = f"{name}:\n--- the check:\n{checked.stdout}\n--- the grade:\n{graded}"
        assert verdict_of(checked.stdout) == verdict_of(graded), said
        assert checked.returncode == (verdict_of(graded)[0] != "VALID"), said
