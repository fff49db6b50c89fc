"""The handout generator: stubs in the right places, clear marker errors, and a
student tree whose suites fail fast on the stubs instead of hanging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grading.handout import MarkerError, build_handout, strip_solutions

SOURCE = textwrap.dedent('''\
    import queue

    # BEGIN SOLUTION
    HELPER = 1
    # END SOLUTION


    class Server:
        def start(
            self, port: int
        ) -> int:
            """Start; the contract stays."""
            # BEGIN SOLUTION
            return port
            # END SOLUTION

        # BEGIN SOLUTION
        def _private(self) -> None:
            pass
        # END SOLUTION
    ''')


def test_function_regions_become_stubs_and_others_vanish() -> None:
    out = strip_solutions(SOURCE, "server.py")
    assert "HELPER" not in out
    assert "_private" not in out
    assert "return port" not in out
    assert '        """Start; the contract stays."""\n' in out
    assert '        raise NotImplementedError("start(): your code here")\n' in out
    compile(out, "server.py", "exec")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("# END SOLUTION\n", "x.py:1: # END SOLUTION without"),
        ("# BEGIN SOLUTION\n\n", "x.py:1: # BEGIN SOLUTION never closed"),
        ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n", "x.py:2: # BEGIN SOLUTION inside"),
    ],
)
def test_marker_errors_name_file_and_line(text: str, error: str) -> None:
    with pytest.raises(MarkerError, match="^" + error.replace("#", r"\#")):
        strip_solutions(text, "x.py")


@pytest.fixture(scope="module")
def handout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("handout") / "p0"
    build_handout(out)
    return out


def test_handout_holds_no_solution_and_no_instructor_file(handout: Path) -> None:
    assert not (handout / "grading").exists()
    assert not (handout / "benchmarks").exists()  # its servers are solutions
    assert not (handout / ".ci").exists()
    for path in handout.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "SOLUTION" not in text, path
            assert "INSTRUCTOR" not in text, path
    pyproject = (handout / "pyproject.toml").read_text()
    assert "grading" not in pyproject
    assert "benchmarks" not in pyproject
    assert "raise NotImplementedError" in (handout / "partA/server.py").read_text()


def test_untouched_student_files_are_formatted(handout: Path) -> None:
    files = ["partA/server.py", "partB/test_squarer.py"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *files],
        cwd=handout, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (handout / "HANDOUT.md").is_file()


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_stubs_fail_every_partA_test_fast(handout: Path) -> None:
    result = run_pytest(handout, "partA", "--timeout", "10")
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout
    assert "passed" not in summary, summary
    assert "NotImplementedError" in result.stdout
    seconds = float(summary.rsplit(" in ", 1)[1].split("s")[0])
    assert seconds < 30, f"the stubs took {seconds} s to fail"


def test_starter_squarer_test_passes(handout: Path) -> None:
    result = run_pytest(handout, "partB")
    assert result.returncode == 0, result.stdout
