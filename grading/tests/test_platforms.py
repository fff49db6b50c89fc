"""PrairieLearn's external grader: the course files, the results' format as
PrairieLearn documents it (docs/externalGrading.md), and the entrypoint run on
a folder shaped like ``/grade``; and the grader's own faults, on every
platform: never the student's."""

from __future__ import annotations

import json
import uuid
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from grading.platforms import gradescope, prairielearn

from grading.submission import grade, runs, sandbox

from grading.proof import sample_submissions
from grading.platforms.autograder import run_gradescope
from grading.settings import pinned_ruff
from grading.submission.report import (
    GRADED,
    GRADER_FAILED,
    REFUSED,
    GradeReport,
    TestResult,
    table,
)
from grading.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The plain submission (full marks), as a student hands it in."""
    return sample_submissions.plain(tmp_path / "plain")


def prairielearn_problems(data: object) -> list[str]:
    """What PrairieLearn's documented results format would not take."""
    if not isinstance(data, dict):
        return ["results must be an object"]
    problems = []
    if not isinstance(data.get("gradable", True), bool):
        problems.append("gradable must be true or false")
    if data.get("gradable", True):
        score = data.get("score")
        if not isinstance(score, int | float) or not 0 <= score <= 1:
            problems.append(f"score must be a number from 0 to 1, not {score!r}")
    else:
        errors = data.get("format_errors")
        if not (isinstance(errors, str) or isinstance(errors, list) and errors):
            problems.append("a submission that is not gradable needs format_errors")
    for test in data.get("tests", []):
        for name in ("name", "message", "output", "description"):
            if not isinstance(test.get(name, ""), str):
                problems.append(f"test {name} must be a string")
        for name in ("points", "max_points"):
            if not isinstance(test.get(name, 0), int | float):
                problems.append(f"test {name} must be a number")
    if len(json.dumps(data).encode()) > prairielearn.MAX_BYTES:
        problems.append("results.json is over 1 MB")
    return problems


def report(status: str, output: str = "Score: 3 / 4", long: int = 0) -> GradeReport:
    tests = [
        TestResult("partA TestBasic.test_basic1", "1.1", 1, 1, "passed", "passed"),
        TestResult("partA TestBasic.test_basic2", "1.2", 0, 1, "failed", "x" * long),
        TestResult("partB squarer tests", "2.1", 2, 2, "passed", "9 tests"),
    ]
    return GradeReport("s", 3, 4, tests, 1.0, output, status=status)


def test_the_schema_check_finds_what_prairielearn_would_reject() -> None:
    assert prairielearn_problems({"gradable": True, "score": 1.5})
    assert prairielearn_problems({"gradable": False})
    assert prairielearn_problems({"score": 0.5, "tests": [{"points": "1"}]})
    assert not prairielearn_problems({"score": 0.5})


def test_a_graded_report_scores_from_0_to_1_with_each_test() -> None:
    data = prairielearn.results(report(GRADED))
    assert prairielearn_problems(data) == []
    assert (data["gradable"], data["score"]) == (True, 0.75)
    assert [t["points"] for t in data["tests"]] == [1, 0, 2]
    assert data["tests"][1]["max_points"] == 1


@pytest.mark.parametrize("status", [REFUSED, GRADER_FAILED])
def test_what_was_not_graded_costs_no_points_and_no_attempt(status: str) -> None:
    data = prairielearn.results(report(status, output="The submission: no files"))
    assert prairielearn_problems(data) == []
    assert data["gradable"] is False
    said = " ".join(data["format_errors"])
    assert ("no files" in said) if status == REFUSED else ("NOT GRADED" in said)


def test_results_stay_under_prairielearns_1_mb() -> None:
    data = prairielearn.results(report(GRADED, long=3_000_000))
    assert prairielearn_problems(data) == []
    assert "cut: too long" in data["tests"][1]["output"]


def test_the_course_files_hold_the_grader_the_question_and_the_image(
    tmp_path: Path,
) -> None:
    prairielearn.build_course(tmp_path, image="course/p0-grader:1")
    info = json.loads((tmp_path / "questions/p0/info.json").read_text())
    options = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External"
    assert options["enabled"] is True
    assert options["image"] == "course/p0-grader:1"
    assert options["entrypoint"] == "/grade/serverFilesCourse/p0_grader/run.sh"
    assert options["timeout"] <= prairielearn.MAX_TIMEOUT
    grader = tmp_path / "serverFilesCourse" / "p0_grader"
    for needed in (
        "run.sh",
        "conftest.py",
        "partA/framework/harness.py",
        "grading/submission/grade.py",
    ):
        assert (grader / needed).is_file(), needed
    assert "pytest==" in (tmp_path / "image" / "Dockerfile").read_text()
    html = (tmp_path / "questions/p0/question.html").read_text()
    assert 'file-names="server.py, test_squarer.py"' in html
    dockerfile = (tmp_path / "image" / "Dockerfile").read_text()
    assert pinned_ruff() in dockerfile  # the students' ruff


def test_the_question_keeps_its_uuid_from_export_to_export(tmp_path: Path) -> None:
    """Re-exported, the question is the same question to PrairieLearn."""
    uuids = []
    for folder in ("first", "second"):
        prairielearn.build_course(tmp_path / folder)
        info = json.loads((tmp_path / folder / "questions/p0/info.json").read_text())
        uuids.append(uuid.UUID(info["uuid"]))
    assert uuids[0] == uuids[1]
    assert uuids[0].version == 5


@pytest.mark.slow
def test_the_entrypoint_grades_a_folder_shaped_like_grade(tmp_path: Path) -> None:
    """As PrairieLearn runs it: the student's two files, uploaded bare."""
    prairielearn.build_course(tmp_path / "course")
    root = tmp_path / "grade"
    shutil.copytree(
        tmp_path / "course" / "serverFilesCourse", root / "serverFilesCourse"
    )
    (root / "student").mkdir()
    sample = sample_submissions.plain(tmp_path / "plain")
    shutil.copy(sample / "partA" / "server.py", root / "student" / "server.py")
    shutil.copy(sample / "partB" / "test_squarer.py", root / "student")
    run_sh = root / "serverFilesCourse" / "p0_grader" / "run.sh"
    done = subprocess.run(
        [str(run_sh), str(root)], capture_output=True, text=True, timeout=900
    )
    print(done.stdout[-3000:], done.stderr[-3000:])
    data = json.loads((root / "results" / "results.json").read_text())
    assert prairielearn_problems(data) == []
    assert (data["gradable"], data["score"]) == (True, 1.0), data["output"]
    assert len(data["tests"]) == 13


def test_a_grader_without_its_tools_grades_nothing_and_says_so(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pytest for the grader's Python: not a 0 for the student."""
    monkeypatch.setattr(grade, "TOOLS", ("pytest", "no_such_test_tool"))
    result = grade.grade_submission(sample, load_settings())
    assert result.status == GRADER_FAILED
    assert "no_such_test_tool not installed" in result.faults[0]
    assert "NOT GRADED" in result.output
    for test in result.tests:
        assert test.output.startswith("NOT GRADED: the grader failed")
    gradescope_data = gradescope.results(result)
    assert gradescope_data["extra_data"]["status"] == GRADER_FAILED
    assert prairielearn.results(result)["gradable"] is False


def test_a_sandbox_that_cannot_be_set_up_grades_nothing_and_says_so(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise sandbox.SandboxError("no free user id in 61000-61255")

    monkeypatch.setattr(sandbox, "run", no_sandbox)
    result = grade.grade_submission(sample, load_settings())
    assert result.status == GRADER_FAILED
    assert result.faults == ["no free user id in 61000-61255"]
    assert all(test.score == 0 for test in result.tests)
    assert "no free user id" not in result.output  # the staff's business


def test_a_grader_without_ruff_gives_the_format_point(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grading.submission import judge_format

    monkeypatch.setattr(judge_format, "RUFF", ["no-such-ruff"])
    settings = load_settings(overrides={"points": {"partA": {}, "partB": 0}})
    result = grade.grade_submission(sample, settings)
    [format_] = [t for t in result.tests if t.name.startswith("format")]
    assert (format_.score, format_.max_score) == (1, 1)
    assert "the grader has no ruff" in format_.output
    assert result.status == GRADED
    assert "ruff could not be run" in result.faults[0]


@pytest.mark.parametrize("where", ["gradescope", "prairielearn"])
def test_a_grader_that_crashes_leaves_results_and_a_failing_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    def crash(*args: object) -> None:
        raise MemoryError("the grader's own")

    monkeypatch.setattr(grade, "grade_submission", crash)
    if where == "gradescope":
        assert run_gradescope(tmp_path) == 1
        data = json.loads((tmp_path / "results" / "results.json").read_text())
        assert data["extra_data"]["status"] == GRADER_FAILED
        assert "NOT GRADED" in data["output"]
        assert "MemoryError" in data["output"]
    else:
        assert prairielearn.run_prairielearn(tmp_path) == 1
        data = json.loads((tmp_path / "results" / "results.json").read_text())
        assert prairielearn_problems(data) == []
        assert data["gradable"] is False


# A hang the deadlock finder cannot call one (a thread that sleeps may wake
# and act): each hung test waits out its deadline, as a busy server would.
HANGS_FROM_THE_FOURTH_START = """
        global STARTS
        STARTS = globals().get("STARTS", 0) + 1
        while STARTS > 3:  # hangs from the fourth test on
            threading.Event().wait(0.5)
"""


def test_the_deadline_cuts_every_run_short() -> None:
    job = runs.Job(Path(), load_settings(), time.monotonic() + 40)
    assert job.seconds(300) <= 40 - runs.MARGIN
    assert job.seconds(5) == 5


@pytest.mark.slow
def test_a_submission_that_hangs_keeps_its_points_by_the_deadline(
    tmp_path: Path,
) -> None:
    """Each hung test costs 10 s; the grader's deadline comes first."""
    server = (ROOT / "partA" / "server.py").read_text()
    docstring_end = server.index('"""', server.index("def start(") + 80) + 3
    hung = server[:docstring_end] + HANGS_FROM_THE_FOURTH_START + server[docstring_end:]
    (tmp_path / "partA").mkdir()
    (tmp_path / "partA" / "server.py").write_text(hung)
    settings = load_settings(
        overrides={"runs": {"total_seconds": 45}, "points": {"partB": 0, "format": 0}}
    )
    started = time.monotonic()
    result = grade.grade_submission(tmp_path, settings)
    assert time.monotonic() - started < 45
    scores = [test.score for test in result.tests if test.name.startswith("partA")]
    assert scores[:3] == [1, 1, 1], table(result)
    assert sum(scores) == 3
    assert "was stopped after" in " ".join(t.output for t in result.tests)
