"""The Gradescope bundle: its layout, and run_autograder on a folder shaped like
/autograder (AUTOGRADER_ROOT), on the reference, on a broken submission, and
with a grader that cannot even start, which must still leave a results.json."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grading.platforms.autograder import build_bundle
from grading.settings import SettingsError, load_settings
from grading.tests.test_settings import settings_with

ROOT = Path(__file__).resolve().parents[2]
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def check_results(report: dict) -> None:
    """Fail unless ``report`` keeps to the fields Gradescope documents."""
    top = {"score", "execution_time", "output", "output_format", "visibility"}
    top |= {"stdout_visibility", "extra_data", "tests", "leaderboard"}
    top |= {"test_output_format", "test_name_format"}
    assert set(report) <= top, f"unknown fields {set(report) - top}"
    assert "score" in report or all("score" in t for t in report["tests"])
    for test in report.get("tests", []):
        fields = {"name", "name_format", "number", "score", "max_score", "status"}
        fields |= {"output", "output_format", "tags", "visibility", "extra_data"}
        assert set(test) <= fields, f"unknown test fields {set(test) - fields}"
        assert test.get("status", "passed") in ("passed", "failed")
        assert test.get("visibility", "visible") in VISIBILITIES
        assert isinstance(test.get("output", ""), str)
    assert report.get("stdout_visibility", "hidden") in VISIBILITIES


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundle") / "autograder.zip"


def test_bundle_holds_the_scripts_at_its_root_and_the_kit(bundle: Path) -> None:
    names = build_bundle(bundle)
    for needed in (
        "setup.sh",
        "run_autograder",
        "partA/server.py",
        "partA/framework/harness.py",
    ):
        assert needed in names
    for needed in ("grading/settings.toml", "grading/squarers/chaff_doubler.py"):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    with zipfile.ZipFile(bundle) as archive:
        for script in ("setup.sh", "run_autograder"):
            mode = archive.getinfo(script).external_attr >> 16
            assert mode & stat.S_IXUSR, f"{script} is not executable"
            text = archive.read(script).decode()
            assert text.startswith("#!/usr/bin/env bash\n")
            check = subprocess.run(["bash", "-n"], input=text, text=True)
            assert check.returncode == 0, f"{script} is not valid bash"
        assert "pytest==" in archive.read("setup.sh").decode()


@pytest.fixture
def root() -> Iterator[Path]:
    """An empty folder to shape like /autograder.

    Like /autograder, and unlike ``tmp_path``, every user may enter it: the
    sandbox runs student code as a user of its own, which must reach Python
    and its own folders (but not the kit in source/, which the grader closes).
    """
    folder = Path(tempfile.mkdtemp(prefix="autograder-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def autograder_folder(root: Path, bundle: Path, files: dict[str, str]) -> Path:
    """``root`` shaped like /autograder: the bundle in source/, a submission."""
    if not bundle.exists():
        build_bundle(bundle)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text)
    return root


def run_autograder(root: Path, python: str = sys.executable, status: int = 0) -> dict:
    """run_autograder's results; its exit status must be ``status``."""
    env = os.environ | {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python}
    done = subprocess.run(
        [str(root / "run_autograder")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == status, done.stdout + done.stderr
    report = json.loads((root / "results" / "results.json").read_text())
    check_results(report)
    return report


def test_results_are_written_when_python_cannot_start(root: Path, bundle: Path) -> None:
    autograder_folder(root, bundle, {})
    report = run_autograder(root, python="/bin/false", status=1)
    assert report["score"] == 0
    assert report["output"].startswith("NOT GRADED")
    assert "tell the course staff" in report["output"]
    assert report["extra_data"]["status"] == "grader failed"


def test_results_are_written_when_the_grader_crashes(root: Path, bundle: Path) -> None:
    autograder_folder(root, bundle, {})
    (root / "source" / "grading" / "submission" / "grade.py").write_text(
        "raise SystemExit(3)\n"
    )
    report = run_autograder(root, status=1)
    assert report["score"] == 0
    assert "NOT GRADED: the grader crashed (SystemExit: 3)" in report["output"]
    assert report["extra_data"]["status"] == "grader failed"


def partC_settings(folder: Path) -> Path:
    """The default settings with partC turned on."""
    text = (ROOT / "grading" / "settings.toml").read_text()
    path = folder / "partC.toml"
    path.write_text(text.replace("enabled = false", "enabled = true"))
    return path


def test_the_bundle_holds_the_kit_a_student_has_and_partC_when_graded(
    bundle: Path, tmp_path: Path
) -> None:
    names = build_bundle(bundle)
    for needed in (
        "conftest.py",
        "HANDOUT.md",
        ".gitignore",
        "grading/submission/grade.py",
    ):
        assert needed in names
    assert len(names) == len(set(names))
    assert not [name for name in names if name.startswith("partC/")]
    assert "runners/test_runners_partc.py" not in names
    assert not [name for name in names if name.startswith("grading/test_")]
    with_partC = build_bundle(
        tmp_path / "c.zip", settings_file=partC_settings(tmp_path)
    )
    assert "partC/server.py" in with_partC
    assert "runners/test_runners_partc.py" in with_partC


def test_a_deadline_too_close_to_gradescopes_timeout_is_refused(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        overrides={
            "runs": {"total_seconds": 560},
            "gradescope": {"timeout_seconds": 600},
        }
    )
    with pytest.raises(SettingsError, match="at most 540"):
        build_bundle(tmp_path / "b.zip", settings=settings)
    longer = load_settings(
        overrides={
            "runs": {"total_seconds": 1200},
            "gradescope": {"timeout_seconds": 1800},
        }
    )
    build_bundle(tmp_path / "b.zip", settings=longer)
    script = zipfile.ZipFile(tmp_path / "b.zip").read("run_autograder").decode()
    assert '"${AUTOGRADER_TIMEOUT:-1770}"' in script


@pytest.mark.slow
def test_partC_is_graded_in_the_bundle_when_the_settings_turn_it_on(
    root: Path, tmp_path: Path
) -> None:
    files = {
        name: (ROOT / name).read_text()
        for name in ("partA/server.py", "partC/server.py")
    }
    bundle = tmp_path / "partC.zip"
    build_bundle(bundle, settings_file=partC_settings(tmp_path))
    autograder_folder(root, bundle, files)
    report = run_autograder(root)
    partC = [t for t in report["tests"] if t["name"].startswith("partC ")]
    assert [t["name"] for t in partC][:2] == ["partC test_list", "partC test_errors"]
    assert all(t["score"] == t["max_score"] for t in partC), report["output"]


@pytest.mark.slow
def test_the_reference_earns_full_marks(root: Path, bundle: Path) -> None:
    files = {
        name: (ROOT / name).read_text()
        for name in ("partA/server.py", "partB/test_squarer.py")
    }
    report = run_autograder(autograder_folder(root, bundle, files))
    maximum = sum(test.get("max_score", 0) for test in report["tests"])
    assert report["score"] == maximum == 16, report["output"]


@pytest.mark.slow
def test_a_broken_submission_is_graded_on_what_it_did(root: Path, bundle: Path) -> None:
    """A syntax error in server.py, both files loose at the top."""
    starter = "def test_nothing() -> None:\n    assert 2 * 2 == 4\n"
    files = {"server.py": "def start(:\n", "test_squarer.py": starter}
    report = run_autograder(autograder_folder(root, bundle, files))
    partA = [t for t in report["tests"] if "TestBasic" in t.get("name", "")]
    assert partA, report
    assert all(t["score"] == 0 for t in partA)
    assert report["score"] < 16


def test_the_bundle_grades_by_the_settings_it_was_given(
    root: Path, tmp_path: Path
) -> None:
    """A robustness test (a function of its module) given points is graded by
    the bundle, and only the tests the given settings name are run."""
    robust = "[points.partA.test_robustness]\ntest_bad_line_is_skipped = 3"
    mine = settings_with(tmp_path, robust, partB=0)
    bundle = tmp_path / "mine.zip"
    build_bundle(bundle, settings_file=mine)
    reference = {
        "partA/server.py": (ROOT / "partA" / "server.py").read_text(),
        "partB/test_squarer.py": (ROOT / "partB" / "test_squarer.py").read_text(),
    }
    report = run_autograder(autograder_folder(root, bundle, reference))
    partA = [test for test in report["tests"] if test["name"].startswith("partA")]
    assert [(t["name"], t["score"]) for t in partA] == [
        ("partA test_robustness.test_bad_line_is_skipped", 3)
    ]
