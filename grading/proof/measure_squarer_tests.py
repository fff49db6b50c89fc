"""``python -m grading.proof.measure_squarer_tests``: how long partB's judging takes.

For the developers of the kit, not a test: it grades, ``--times`` times,
submissions that hold only a partB test file (the reference tests, or one of
grading/proof/student_squarer_tests/), with the grading settings but no partA and
no format point, and prints one line per judgement: the time the grade took,
partB's score, and whether the tests were valid. Run it under
tools/gradescope-limits to measure at Gradescope's 0.5 CPU.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from grading.submission.grade import grade_submission
from grading.submission.intake import TESTS
from grading.submission.report import TestResult
from grading.settings import load_settings
from grading.proof.student_squarer_tests import KIT_ROOT, student_file

REFERENCE = "reference"  # the reference tests, partB/test_squarer.py


def submission(name: str, folder: Path) -> Path:
    """A submission folder holding only ``partB/test_squarer.py``, from ``name``."""
    tests = folder / "partB"
    tests.mkdir(parents=True)
    if name == REFERENCE:
        (tests / "test_squarer.py").write_bytes((KIT_ROOT / TESTS).read_bytes())
    else:
        student_file(name, tests)
    return folder


def judge(name: str, jobs: int | None = None) -> tuple[float, float, str]:
    """Grade ``name`` once: seconds, partB's score, and its verdict's first line.

    ``jobs``: partB's runs at once, instead of the settings' partB_jobs.
    """
    started = time.monotonic()
    partB = graded_partB(name, jobs)
    seconds = time.monotonic() - started
    verdict = next((line for line in partB.output.splitlines() if "VALID" in line), "?")
    return seconds, partB.score, verdict


def graded_partB(name: str, jobs: int | None = None) -> TestResult:
    """partB's entry in the grade of a submission of ``name`` alone."""
    overrides = {"points": {"partA": {}, "format": 0}}
    if jobs:
        overrides["runs"] = {"partB_jobs": jobs}
    settings = load_settings(overrides=overrides)
    with tempfile.TemporaryDirectory(prefix="measure-partB-") as folder:
        report = grade_submission(submission(name, Path(folder) / "hand-in"), settings)
    [partB] = [test for test in report.tests if test.number == "2.1"]
    return partB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        default=[REFERENCE, "honest_long"],
        help="'reference' or a file of grading/proof/student_squarer_tests/ (no .py)",
    )
    parser.add_argument("--times", type=int, default=1, help="judgements of each")
    parser.add_argument(
        "--jobs", type=int, help="partB runs at once (default: the settings')"
    )
    args = parser.parse_args(argv)
    for name in args.names:
        for number in range(1, args.times + 1):
            seconds, score, verdict = judge(name, args.jobs)
            print(f"{name} #{number}: {seconds:6.1f} s  score {score:g}  {verdict}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
