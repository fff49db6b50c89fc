"""partC in the grader, turned on by the settings: the reference earns every
point, a broken partC server loses the points of the suite meant to catch it,
a submission without partC/server.py gets 0 for partC and is told why, and the
handout ships partC only when it is graded."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.proof import selfcheck
from grading.submission.grade import grade_submission
from grading.submission.report import table
from grading.student_edition.handout import build_handout
from grading.proof.partc_mutants import CAUGHT_BY
from grading.settings import load_settings
from grading.tests.test_grade import QUICK, check_results

ROOT = Path(__file__).resolve().parents[2]
PARTC_ON = {"partC": {"enabled": True}}


def reference(folder: Path, partC: bool = True) -> Path:
    """The reference as a submission (partC/server.py too, unless told not)."""
    return selfcheck.submission_of(
        folder,
        (ROOT / "partA/server.py").read_text(),
        (ROOT / "partB/test_squarer.py").read_text(),
        (ROOT / "partC/server.py").read_text() if partC else None,
    )


def test_partC_is_off_by_default() -> None:
    settings = load_settings()
    assert not settings.partC.enabled
    assert settings.max_score == 16
    on = load_settings(overrides=PARTC_ON)
    assert on.max_score == 16 + sum(suite.points for suite in on.partC.suites)
    names = {suite.name for suite in on.partC.suites}
    assert not names & {"test_crash", "test_stores"}  # they need PostgreSQL


@pytest.mark.slow
def test_the_reference_earns_every_partC_point(tmp_path: Path) -> None:
    settings = load_settings(overrides=PARTC_ON | {"points": {"partB": 0}})
    report = grade_submission(reference(tmp_path / "reference"), settings)
    print(table(report))
    check_results(report, tmp_path)
    partC = [test for test in report.tests if test.number.startswith("5.")]
    assert len(partC) == len(settings.partC.suites)
    assert all(test.score == test.max_score for test in partC), table(report)
    assert report.score == report.max_score == 10 + 10 + 1, table(report)
    assert any(line.startswith("partC:") for line in report.isolation)


# The quick ones; selfcheck (with partC on) checks every one of CAUGHT_BY.
@pytest.mark.parametrize(
    "mutant", ["NotifiesItself", "FlushesLate", "VisibleBeforeCommit"]
)
def test_a_broken_partC_server_loses_its_suites_points(mutant: str) -> None:
    [row] = selfcheck.check_partc_mutant(mutant, PARTC_ON)
    suite, phrase = CAUGHT_BY[mutant]
    assert row.passed, row.detail
    assert row.detail.startswith(f"{suite}: lost ")
    # Whether its message names the bug is checked by test_partc_mutants.py,
    # on the suite's own output: a graded entry keeps only the first failure,
    # which on a loaded machine can be another test's short deadline.


def test_a_missing_partC_server_gets_0_for_partC_and_says_why(tmp_path: Path) -> None:
    suites = load_settings().partC.suites
    points = {suite.name: int(suite.name == "test_list") for suite in suites}
    overrides = QUICK | {"partC": {"enabled": True, "points": points}}
    report = grade_submission(
        reference(tmp_path / "no-partC", partC=False),
        load_settings(overrides=overrides),
    )
    print(table(report))
    check_results(report, tmp_path)
    [partC] = [test for test in report.tests if test.name.startswith("partC")]
    assert partC.score == 0
    assert "there is no partC/server.py in the submission" in partC.output
    assert "partC/server.py: MISSING" in report.output
    assert report.status == "graded"  # partA was graded all the same
    partA = [test for test in report.tests if test.name.startswith("partA")]
    assert all(test.score == test.max_score for test in partA), table(report)


def test_the_handout_ships_partC_only_when_it_is_graded(tmp_path: Path) -> None:
    without = tmp_path / "without"
    build_handout(without)
    assert not (without / "partC").exists()
    assert "partC" not in (without / "pyproject.toml").read_text()
    with_partC = tmp_path / "with"
    build_handout(with_partC, partC=True)
    server = (with_partC / "partC/server.py").read_text()
    assert "raise NotImplementedError" in server
    assert "SOLUTION" not in server
    assert (with_partC / "partC/test_transactions.py").is_file()
    assert (with_partC / "partC/REFLECTION.md").is_file()
    assert '"partC"' in (with_partC / "pyproject.toml").read_text()
