"""What grading one submission found: the data every output is made from.

``grade_submission`` (grading/submission/grade.py) makes one ``GradeReport``; each
platform's writer turns it into that platform's file, and nothing else:
Gradescope's results.json (grading/platforms/gradescope.py), PrairieLearn's
(grading/platforms/prairielearn.py), and the table a person reads in a terminal
(``table`` below). Adding a platform is adding a writer.

A report keeps apart what is the student's and what is the staff's:

* ``tests`` and ``output``: the grade, and what the student reads;
* ``isolation``: how each sandboxed run was contained, for the staff;
* ``staff_output``: the raw end of a test process's output, when one went
  wrong (the student reads each test's message instead);
* ``faults``: what went wrong with the grader itself (a missing tool, a
  sandbox that could not be set up, a bug), in words for the staff. Such a
  fault never costs the student points: the test it touched is given, or,
  when nothing could be graded, ``status`` is "grader failed" and the
  platform is told that this is not a grade.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GRADED, REFUSED, GRADER_FAILED = "graded", "refused", "grader failed"
STAFF = "tell the course staff: the grader failed, not your code"


@dataclass
class TestResult:
    """One line of the grade: a test, or a part graded as one."""

    __test__ = False  # not a pytest test class, for all its name

    name: str
    number: str
    score: float
    max_score: float
    status: str  # "passed" or "failed"
    output: str
    visibility: str = "visible"
    # the failure pictures the harness drew for it: file name -> HTML page
    pictures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class GradeReport:
    """The grade of one submission."""

    submission: str
    score: float
    max_score: float
    tests: list[TestResult]
    execution_time: float
    output: str
    stdout_visibility: str = "hidden"
    isolation: list[str] = field(default_factory=list)  # one line per sandbox
    # GRADED; REFUSED: nothing in it could be graded (a bad zip, no files);
    # GRADER_FAILED: the grader could not grade it (its own fault)
    status: str = GRADED
    faults: list[str] = field(default_factory=list)  # the grader's, for the staff
    parts: dict[str, str] = field(default_factory=dict)  # each part's digest (reuse)
    kept: list[str] = field(default_factory=list)  # parts kept from an earlier grading
    # the raw end of the output of a test process that went wrong: the staff's
    # (the student reads each test's message, never the runner's output)
    staff_output: str = ""

    @property
    def graded(self) -> bool:
        """Whether this is a grade (else: refused, or the grader failed)."""
        return self.status == GRADED

    def for_staff(self) -> str:
        """What the staff should know that the student need not see."""
        lines = [f"Status: {self.status}"]
        lines += [f"Grader fault: {fault}" for fault in self.faults]
        return "\n".join(lines + [f"Sandbox: {line}" for line in self.isolation])


def points(value: float) -> str:
    """``1.0`` -> "1", ``0.5`` -> "0.5"."""
    return f"{value:g}"


def table(report: GradeReport) -> str:
    """The grade as a table a person reads in a terminal, one line per test."""
    width = max([len(test.name) for test in report.tests] + [10])
    status = "" if report.graded else f" ({report.status.upper()})"
    lines = [f"Grade of {report.submission}{status}", ""]
    for test in report.tests:
        mark = "ok  " if test.passed else "FAIL"
        first = test.output.splitlines()[0] if test.output else ""
        score = f"{points(test.score)}/{points(test.max_score)}"
        lines.append(f"{mark} {test.name:<{width}} {score:>7}  {first[:70]}")
    lines += [
        "",
        f"Total: {points(report.score)} / {points(report.max_score)}"
        f"   ({report.execution_time:.1f} s)",
    ]
    return "\n".join(lines) + "\n" + report.for_staff()
