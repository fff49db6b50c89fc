"""The Gradescope bundle where Gradescope runs it: an Ubuntu 22.04 root file
system with its own Python 3.10 (tools/gradescope-image), setup.sh run once
with the network, run_autograder per submission without it.

Skipped, saying why, where this machine cannot build such an image (not
root, not Linux, no debootstrap, no way to Ubuntu's archive)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from grading.proof import sample_submissions

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gradescope-image"
ARCHIVE = "http://archive.ubuntu.com/ubuntu/dists/jammy/Release"

pytestmark = pytest.mark.slow


def why_not_here() -> str | None:
    """Why an Ubuntu image cannot be built here, or None."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs Linux and root (debootstrap, chroot, namespaces)"
    if not (shutil.which("debootstrap") or shutil.which("apt-get")):
        return "needs debootstrap (or apt-get to install it)"
    try:
        urllib.request.urlopen(ARCHIVE, timeout=10).close()
    except OSError as error:
        return f"Ubuntu's archive cannot be reached ({error})"
    return None


@pytest.fixture(scope="module")
def image() -> Path:
    if why := why_not_here():
        pytest.skip(f"no Ubuntu 22.04 image: {why}")
    done = subprocess.run(
        [str(TOOL), "build"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "using /usr/bin/python3 (Python 3.10." in setup_log(), setup_log()[-2000:]
    return Path("/var/tmp/p0-gradescope-jammy")


def setup_log() -> str:
    return Path("/var/tmp/p0-gradescope-jammy.setup.log").read_text()


def run(submission: Path, out: Path, *env: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        [str(TOOL), "run", str(submission), str(out), *env],
        capture_output=True,
        text=True,
        timeout=900,
    )
    stdout = Path("/var/tmp/p0-gradescope-jammy.run.log").read_text()
    return done.returncode, json.loads(out.read_text()), stdout


def test_a_correct_submission_gets_full_marks_in_the_image(
    image: Path, tmp_path: Path
) -> None:
    sample = sample_submissions.plain(tmp_path / "plain")
    status, results, stdout = run(sample, tmp_path / "results.json")
    assert status == 0, stdout[-3000:]
    assert results["score"] == 16, results["output"]
    assert results["output_format"] == "text"
    assert results["extra_data"]["status"] == "graded"
    # how the runs were contained is for the staff: stdout and extra_data
    assert "Sandbox: partA:" in stdout
    assert "Sandbox" not in results["output"]
    assert results["extra_data"]["isolation"]


def test_a_grader_without_its_tools_says_not_graded_and_fails(
    image: Path, tmp_path: Path
) -> None:
    """The image's own python3 has none of the kit's tools (no pytest, and no
    tomli for the settings on 3.10): the grader's fault, not a 0."""
    python = "AUTOGRADER_PYTHON=/usr/bin/python3"
    sample = sample_submissions.plain(tmp_path / "plain")
    status, results, stdout = run(sample, tmp_path / "results.json", python)
    assert status == 1, stdout[-3000:]
    assert results["extra_data"]["status"] == "grader failed"
    assert results["output"].startswith("NOT GRADED")
    assert results["extra_data"]["faults"]
    assert all(test["score"] == 0 for test in results["tests"])
