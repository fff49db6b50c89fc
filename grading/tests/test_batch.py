"""The batch verb: finding submissions, the CSV, the summary, the progress bar,
and a submission whose grader does not finish, which still gets a results.json.
The whole verb on real submissions is in ``test_grading_end_to_end.py``."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from grading.classroom import batch
from grading.__main__ import main
from grading.classroom.batch import Progress, find_submissions
from grading.classroom.results import PARTS, Outcome, outcome_of, part_of
from grading.settings import DEFAULT_PATH as DEFAULT_SETTINGS
from grading.tests.test_settings import settings_with

RESULTS = {  # as grading/submission/grade.py numbers and names its tests
    "score": 11.5,
    "tests": [
        {"name": "partA TestBasic.test_basic1", "number": "1.1", "score": 1,
         "max_score": 1},
        {"name": "partA TestBasic.test_basic2", "number": "1.2", "score": 0,
         "max_score": 1},
        {"name": "partB squarer tests", "number": "2.1", "score": 3.5,
         "max_score": 5},
        {"name": "format (ruff format --check)", "number": "3.1", "score": 0,
         "max_score": 1},
        {"name": "course rules", "number": "4.1", "score": 0, "max_score": 0,
         "status": "passed"},
    ],
}  # fmt: skip


def outcome(student: str, score: float, failed: tuple[str, ...] = ()) -> Outcome:
    parts = {"partA": score, "partB": 0.0, "partC": 0.0, "format": 0.0, "rules": 0.0}
    return Outcome(student, score, 16, parts, 1.0, "graded", failed, Path("r.json"))


def test_submissions_are_folders_and_zips_named_after_students(tmp_path: Path) -> None:
    for name in ("alice", "carol", ".git", "_out"):
        (tmp_path / name).mkdir()
    for name in ("bob.zip", "carol.zip", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = find_submissions(tmp_path, skip=[tmp_path / "alice"])
    assert found == {
        "bob": tmp_path / "bob.zip",
        "carol": tmp_path / "carol",
        "carol.zip": tmp_path / "carol.zip",
    }


def test_each_test_counts_for_its_part() -> None:
    parts = [part_of(test) for test in RESULTS["tests"]]
    assert parts == ["partA", "partA", "partB", "format", "rules"]
    unnumbered = [{"name": t["name"]} for t in RESULTS["tests"]]
    assert [part_of(test) for test in unnumbered] == parts
    result = outcome_of("alice", RESULTS, 2.0, "graded", Path("r.json"))
    assert result.score == 11.5
    assert result.parts == {
        "partA": 1, "partB": 3.5, "partC": 0, "format": 0, "rules": 0
    }  # fmt: skip
    assert part_of({"name": "partC test_list", "number": "5.1"}) == "partC"
    assert result.failed == (
        "partA TestBasic.test_basic2",
        "partB squarer tests",
        "format (ruff format --check)",
    )


def test_csv_has_one_row_a_student_and_a_column_a_test(tmp_path: Path) -> None:
    alice = outcome_of("alice", RESULTS, 2.0, "graded", Path("r.json"))
    batch.write_csv(
        [alice, outcome("bob", 7.5)], tmp_path / "g.csv", {"alice": {"id": "7"}}
    )
    rows = list(csv.reader((tmp_path / "g.csv").open()))
    tests = [test["name"] for test in RESULTS["tests"]]
    assert rows[0] == ["student", "id", "total", *PARTS, *tests, "time", "status"]
    assert rows[1] == [
        "alice", "7", "11.5", "1", "3.5", "0", "0", "0",
        "1", "0", "3.5", "0", "0", "2.0", "graded",
    ]  # fmt: skip
    assert rows[2][:3] == ["bob", "", "7.5"]
    assert rows[2][8:13] == [""] * 5  # bob's results name no test


def test_lms_imports_and_feedback_follow_the_roster(tmp_path: Path) -> None:
    """canvas.csv and moodle.csv with the columns each LMS documents; a refused
    submission scores 0, one the grader did not finish is left blank."""
    from grading.classroom import class_outputs
    from grading.proof.sample_class import fabricate_results

    kinds = {"alice": "full marks", "erin": "refused", "zed": "race"}
    outcomes = fabricate_results(tmp_path, kinds)
    outcomes.append(dataclasses.replace(outcome("frank", 0), status="timed out"))
    roster = {
        "alice": {"id": "1", "name": "Alice", "email": "a@x", "section": "L1"},
        "erin": {"id": "5", "name": "Erin"},
        "frank": {"id": "6", "name": "Frank"},
    }
    class_outputs.write_canvas(outcomes, tmp_path / "c.csv", roster, "P0")
    class_outputs.write_moodle(outcomes, tmp_path / "m.csv", roster, "P0")
    canvas = list(csv.reader((tmp_path / "c.csv").open()))
    assert canvas == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "P0"],
        ["Alice", "1", "", "", "L1", "16"],
        ["Erin", "5", "", "", "", "0"],
        ["Frank", "6", "", "", "", ""],
    ]
    moodle = list(csv.reader((tmp_path / "m.csv").open()))
    assert moodle[0] == ["ID number", "Email address", "P0"]
    assert moodle[1:] == [["1", "a@x", "16"], ["5", "", "0"], ["6", "", ""]]
    assert class_outputs.unlisted(outcomes, roster) == ["zed"]
    class_outputs.write_feedback(outcomes[:3])
    said = (tmp_path / "zed" / "feedback.txt").read_text()
    assert said.startswith("P0, zed: ")
    assert "partA TestBasic.test_basic3: 0/1\n    two threads used the store" in said


def test_a_roster_without_ids_is_refused(tmp_path: Path) -> None:
    from grading.classroom import class_outputs

    (tmp_path / "r.csv").write_text("name,email\nAlice,a@x\n")
    with pytest.raises(class_outputs.RosterError, match="folder, id"):
        class_outputs.read_roster(tmp_path / "r.csv")


def test_summary_shows_a_histogram_and_the_common_failures() -> None:
    outcomes = [
        outcome("a", 16),
        outcome("b", 16),
        outcome("c", 10, ("test_slow_client1", "test_basic3")),
        outcome("d", 9.5, ("test_slow_client1",)),
    ]
    text = batch.summary(outcomes, wall=61.0, jobs=2)
    lines = text.splitlines()
    assert "Graded 4 submissions in 1:01" in lines[0]
    assert "of the 4 graded submissions (out of 16): mean 12.9, median 13" in text
    sixteen = next(line for line in lines if line.strip().startswith("16 |"))
    nine = next(line for line in lines if line.strip().startswith("9 |"))
    assert sixteen.endswith(" 2")
    assert nine.endswith(" 1")
    assert len(sixteen) > len(nine)  # the bars are to scale
    assert "  2  test_slow_client1" in text
    assert "  1  test_basic3" in text


def test_progress_is_plain_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(2, stream)
    progress.advance(outcome("alice", 16))
    progress.advance(outcome("bob", 3))
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "[1/2] alice: 16/16 (1.0 s)",
        "[2/2] bob: 3/16 (1.0 s)",
    ]


def test_progress_on_a_terminal_is_a_bar_with_time_left_and_the_slowest() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress(4, stream, reused=3)
    progress.advance(dataclasses.replace(outcome("alice", 16), seconds=95.0))
    progress.advance(outcome("bob", 3))
    progress.finish()
    text = stream.getvalue()
    assert text.startswith("reused 3 results graded before")
    last = text.split("\r")[-1]  # tqdm redraws the line in place
    assert last.startswith("2/4 |")
    assert "elapsed, ~" in last
    assert " left, slowest: alice 1:35, last: bob: 3/16" in last
    assert text.endswith("\n")
    assert text.count("\n") == 2


def test_a_grader_that_does_not_finish_still_leaves_results(tmp_path: Path) -> None:
    """Killed at its wall clock, the child leaves no results: batch writes them."""
    (tmp_path / "alice").mkdir()
    result = batch.grade_one("alice", tmp_path / "alice", tmp_path / "out", 0.01)
    assert result.status.startswith("timed out")
    assert result.score == 0
    report = json.loads(result.results.read_text())
    assert report["score"] == 0
    assert "Not graded (timed out" in report["output"]


def test_the_verb_grades_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two submissions the grader refuses at once: files missing, a bad zip."""
    (tmp_path / "class" / "empty").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "class" / "climber.zip", "w") as archive:
        archive.writestr("../escaped.txt", "out of the folder")
    status = main(["batch", str(tmp_path / "class"), "-j", "2"])
    out = tmp_path / "class-results"
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [row["student"] for row in rows] == ["climber", "empty"]
    assert {row["total"] for row in rows} == {"0"}
    assert {row["status"] for row in rows} == {"refused"}
    for student in ("climber", "empty"):
        report = json.loads((out / student / "results.json").read_text())
        assert report["score"] == 0
        assert report["tests"]
    assert "climbs out" in (out / "climber" / "results.json").read_text()
    shown = capsys.readouterr().out
    assert "Graded 2 submissions" in shown
    assert "Refused (2; nothing in them could be graded):" in shown
    assert "  climber: the zip holds a name that climbs out" in shown
    assert "  empty: none of the files to grade is in it" in shown
    assert "Not graded" not in shown
    assert "of the 0 graded submissions" in shown  # refused: counted apart, not 0s
    assert "2 refused and 0 not graded are counted apart" in shown
    assert "  0 | " not in shown
    assert (out / "summary.txt").read_text().startswith("Graded 2 submissions")
    assert not (tmp_path / "escaped.txt").exists()
    assert status == 0


def refused_class(folder: Path) -> dict[str, Path]:
    """Two submissions the grader turns down at once: quick to grade."""
    (folder / "empty").mkdir(parents=True)
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_text("hand in on Friday")
    return find_submissions(folder)


def test_a_regrade_reuses_what_did_not_change(tmp_path: Path) -> None:
    submissions = refused_class(tmp_path / "class")
    out = tmp_path / "out"
    first = batch.grade_all(submissions, out)
    assert [o.reused for o in first] == [False, False]
    again = batch.grade_all(submissions, out)
    assert [o.reused for o in again] == [True, True]
    assert [o.status for o in again] == ["refused", "refused"]
    assert again[0].seconds == pytest.approx(first[0].seconds, abs=0.01)
    (submissions["notes"] / "todo.txt").write_text("hand in on Monday")
    handed_in_again = batch.grade_all(submissions, out)
    assert [o.reused for o in handed_in_again] == [True, False]
    fresh = batch.grade_all(submissions, out, fresh=True)
    assert [o.reused for o in fresh] == [False, False]


def test_a_setting_the_grader_reads_invalidates_what_it_kept(tmp_path: Path) -> None:
    submissions = refused_class(tmp_path / "class")
    out = tmp_path / "out"
    settings = tmp_path / "settings.toml"
    default = DEFAULT_SETTINGS.read_text()
    settings.write_text(default)
    batch.grade_all(submissions, out, settings=settings)
    settings.write_text(default.replace('hints = "hints"', 'hints = "design"'))
    unread = batch.grade_all(submissions, out, settings=settings)
    assert [o.reused for o in unread] == [True, True]  # grading never reads it
    settings.write_text(default.replace("format = 1", "format = 2"))
    read = batch.grade_all(submissions, out, settings=settings)
    assert [o.reused for o in read] == [False, False]


def test_the_digest_of_a_submission_is_of_its_names_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "a" / "partA").mkdir(parents=True)
    (tmp_path / "a" / "partA" / "server.py").write_text("x = 1\n")
    digest = batch.submission_digest(tmp_path / "a", "key")
    assert batch.submission_digest(tmp_path / "a", "key") == digest
    assert batch.submission_digest(tmp_path / "a", "other key") != digest
    (tmp_path / "a" / "partA" / "server.py").rename(tmp_path / "a" / "partA" / "s.py")
    assert batch.submission_digest(tmp_path / "a", "key") != digest


def test_a_grader_that_did_not_finish_is_not_kept(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    out = tmp_path / "out"
    result = batch.grade_one("alice", tmp_path / "alice", out, 0.01, digest="d")
    assert result.status.startswith("timed out")
    assert not (out / batch.DIGEST_FILE).exists()


def test_without_the_report_libraries_batch_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grading import classroom

    monkeypatch.delattr(classroom, "report_html", raising=False)
    monkeypatch.delitem(sys.modules, "grading.classroom.report_html", raising=False)
    monkeypatch.setitem(sys.modules, "jinja2", None)  # as if not installed
    args = argparse.Namespace(settings=None, jobs=1)
    said = batch.write_report([], tmp_path / "report.html", {}, args)
    assert said == (
        "Report: not written (jinja2 is missing). It needs the instructor's "
        'extra: python -m pip install -e ".[grading]"'
    )
    assert not (tmp_path / "report.html").exists()


QUICKER = [  # the default settings, made quick: two partA tests, one run a squarer
    *(f"{test} = 1" for test in ("test_basic3", "test_basic4", "test_basic5")),
    *(f"{test} = 1" for test in ("test_basic6", "test_count1", "test_count2")),
    "test_slow_client1 = 1",
    "test_slow_client2 = 1",
    "partB_wheat_runs = 0",
    "partB_chaff_runs = 2",
]


def quicker(settings: str) -> str:
    for line in QUICKER:
        assert line in settings, line
        key = line.split(" = ")[0]
        settings = settings.replace(line, f"{key} = {1 if 'runs' in key else 0}")
    return settings


@pytest.mark.slow
def test_a_setting_that_partA_does_not_read_regrades_the_rest_only(
    tmp_path: Path,
) -> None:
    """``points.format`` changed: partA and partB are kept, the format and the
    rules checked again; a new partB file: partB judged again, partA kept."""
    student = tmp_path / "class" / "alice"
    for name in ("partA/server.py", "partB/test_squarer.py"):
        (student / name).parent.mkdir(parents=True, exist_ok=True)
        (student / name).write_bytes((batch.KIT_ROOT / name).read_bytes())
    default = DEFAULT_SETTINGS.read_text()
    settings = tmp_path / "settings.toml"
    settings.write_text(quicker(default))
    submissions = find_submissions(tmp_path / "class")
    out = tmp_path / "out"
    [first] = batch.grade_all(submissions, out, settings=settings)
    assert (first.score, first.kept) == (8, ())
    settings.write_text(quicker(default).replace("format = 1", "format = 2"))
    [again] = batch.grade_all(submissions, out, settings=settings)
    assert not again.reused
    assert again.kept == ("partA", "partB")
    assert again.score == 9
    assert again.seconds < first.seconds
    report = json.loads(again.results.read_text())
    assert "partA: kept from an earlier grading" in " ".join(
        report["extra_data"]["isolation"]
    )
    summary = batch.summary([again], 1.0, 1)
    assert "1 re-graded in part, keeping what had not changed (partA, partB)" in summary
    with (student / "partB/test_squarer.py").open("a") as tests:
        tests.write("\n\ndef test_one_more() -> None:\n    assert 3 * 3 == 9\n")
    [handed_in_again] = batch.grade_all(submissions, out, settings=settings)
    assert handed_in_again.kept == ("partA",)


def test_batch_grades_a_robustness_test_the_settings_give_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A test that is a function of its module, named by its module in the
    settings, has its column in grades.csv and its points."""
    root = Path(__file__).resolve().parents[2]
    robust = "[points.partA.test_robustness]\ntest_bad_line_is_skipped = 2"
    settings = settings_with(tmp_path, robust, partB=0, format=0)
    alice = tmp_path / "class" / "alice"
    for name in ("partA/server.py", "partB/test_squarer.py"):
        (alice / name).parent.mkdir(parents=True, exist_ok=True)
        (alice / name).write_text((root / name).read_text())
    assert main(["batch", str(tmp_path / "class"), "--settings", str(settings)]) == 0
    capsys.readouterr()
    grades = tmp_path / "class-results" / "grades.csv"
    (row,) = csv.DictReader(grades.open())
    assert row["partA test_robustness.test_bad_line_is_skipped"] == "2"
    assert row["total"] == "2"
