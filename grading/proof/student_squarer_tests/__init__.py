"""Student-style squarer test files, to check the judge's rules on.

Each ``*.py`` here (but this one) holds the tests a student would add to the
starter file: ``student_file(name, folder)`` writes the starter file as
handed out (partB/test_squarer.py without its solution region) followed by
them, as ``folder/test_squarer.py``, formatted with ruff as the handout's
files are (and as a careful student keeps them). The files are named
without ``test_`` so that pytest never collects them on their own.

- ``honest_long``: 30 tests, some moving a hundred values: valid, and they
  catch every bug.
- ``sleep_ordered``: tests that sleep to let the squarer "finish": invalid.
- ``over_specified``: tests of what the contract leaves free (maxsize, the
  thread's name, a private attribute, a quick close(), how soon the squarer
  moves on): invalid, each named with the correct squarer it failed on.
- ``hanging``: a test that waits for ever: stopped, and named.
- ``at_the_budget``: a test that spends nearly all the time HANDOUT.md's
  count allows one test: valid, on the slowest squarer the contract allows.
"""

import tempfile
from pathlib import Path

from grading.student_edition.handout import cut_regions
from grading.student_edition.handout import format_files as format_as_handed_out

KIT_ROOT = Path(__file__).resolve().parents[3]
STARTER = KIT_ROOT / "partB" / "test_squarer.py"
FOLDER = Path(__file__).resolve().parent


def starter() -> str:
    """The starter test file, as students receive it."""
    return cut_regions(STARTER.read_text(encoding="utf-8"), "partB/test_squarer.py")


def student_file(name: str, folder: Path) -> Path:
    """``folder/test_squarer.py``: the starter file, then the tests of ``name``."""
    tests = (FOLDER / f"{name}.py").read_text(encoding="utf-8")
    path = folder / "test_squarer.py"
    path.write_text(starter() + "\n\n" + tests, encoding="utf-8")
    format_as_handed_out([path])  # as a careful student runs ruff format
    return path


def student_text(name: str) -> str:
    """What ``student_file`` writes for ``name``: the formatted file's text."""
    with tempfile.TemporaryDirectory(prefix="student-tests-") as folder:
        return student_file(name, Path(folder)).read_text(encoding="utf-8")
