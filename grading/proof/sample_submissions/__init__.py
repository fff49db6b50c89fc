"""A submission of our own, as a student hands it in, for the graders' tests.

``plain(folder)`` writes it into ``folder`` and returns ``folder``:
``partA/server.py`` is a student-style server written apart from the
reference (kept here, in ``plain/``), and ``partB/test_squarer.py`` is the
starter file with a thorough student's tests
(``student_squarer_tests/honest_long``). It earns full marks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grading.proof.student_squarer_tests import student_file

SERVER = Path(__file__).resolve().parent / "plain" / "partA" / "server.py"


def plain(folder: Path) -> Path:
    """Write the plain submission into ``folder``; return ``folder``."""
    (folder / "partA").mkdir(parents=True, exist_ok=True)
    shutil.copy(SERVER, folder / "partA" / "server.py")
    (folder / "partB").mkdir(exist_ok=True)
    student_file("honest_long", folder / "partB")
    return folder
