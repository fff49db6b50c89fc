"""The kit's code read as Python 3.10 would: by vermin, a tool that knows which
version each module, function and syntax first appeared in. Nothing in it
may need a Python newer than 3.10.

3.11 runs here; 3.10, 3.12 and 3.13 run the student's suites where pyenv has
them (``tools/pyenv-pythons``), and 3.14 every suite in a Debian chroot
(``tools/other-pythons``), both from ``.ci/run``. Reading covers what those
runs do not: the grading code on 3.10, 3.12 and 3.13 (3.10's also runs in
the Gradescope image test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grading.student_edition.handout import ROOT

FOLDERS = ["partA", "partB", "partC", "runners", "grading", "benchmarks", "tools"]


def vermin(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from vermin import main; sys.exit(main())"
    command = [sys.executable, "-c", code, "--no-tips", "--violations"]
    return subprocess.run(
        [*command, "--eval-annotations", "--target=3.10-", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_kit_needs_nothing_newer_than_python_3_10() -> None:
    folders = [folder for folder in FOLDERS if (ROOT / folder).is_dir()]
    result = vermin(*folders)
    assert result.returncode == 0, (
        f"some code needs a Python newer than 3.10 (which students have):\n"
        f"{result.stdout}{result.stderr}"
    )


def test_the_check_can_fail(tmp_path: Path) -> None:
    newer = tmp_path / "newer.py"
    newer.write_text(
        textwrap.dedent("""\
        import tomllib
        from typing import Self
        """)
    )
    result = vermin(str(newer))
    assert result.returncode != 0, result.stdout
    assert "tomllib" in result.stdout


@pytest.mark.parametrize("name", ["requires-python", "target-version"])
def test_the_project_says_3_10(name: str) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    expected = {"requires-python": '">=3.10"', "target-version": '"py310"'}[name]
    assert f"{name} = {expected}" in text


HANGS = """\
import time
import pytest

@pytest.mark.timeout(1)
def test_hangs():
    while True:
        time.sleep(0.05)

def test_after_it():
    pass
"""


def test_a_hung_test_fails_and_the_run_goes_on_without_sigalrm(tmp_path: Path) -> None:
    """Windows' way (forced here): the kit's conftest stops the hung test by
    interrupting the main thread, instead of ending the run."""
    (tmp_path / "test_hangs.py").write_text(HANGS)
    shutil.copy(ROOT / "conftest.py", tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, KV_TIMEOUT_METHOD="interrupt"),
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1]
    assert "1 failed, 1 passed" in summary, result.stdout + result.stderr
    assert "Timeout: the test ran for more than 1 s" in result.stdout
