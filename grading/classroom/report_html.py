"""``report.html``: a graded class on one page, to look at rather than read.

Theory of operation
-------------------
``write_report`` takes batch's outcomes, reads each student's results.json,
and works out what the page shows: the score distribution of each part, the
pass rate of every test, the failure messages grouped by kind (the first
line of each, its numbers and quoted values blanked, so that "client 3
expected 12 replies" and "client 7 expected 9 replies" count as one), the
pairs of submissions that look copied (``grading.classroom.similarity``), the grading
time of each submission, and a section per student. Charts are drawn by
pygal as inline SVG; the page is a Jinja2 template
(``templates/report.html.j2``) with its style sheet inside. Nothing is
fetched when it opens: no script, style sheet or font from anywhere, so it
works from disk, offline. Its links lead to the files batch wrote beside
it: each student's results.json and grader.log, and the failure pictures a
results.json lists (``extra_data.pictures`` of a test, paths relative to
that results.json's folder).

Instructor-only, like all of grading/: Jinja2, pygal and copydetect come
with the ``grading`` extra (``pip install -e ".[grading]"``).
"""

from __future__ import annotations

import os
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import jinja2
import pygal
from markupsafe import Markup

from grading.classroom import similarity
from grading.classroom.results import PARTS, Outcome, is_failed, part_of, read_results
from grading.classroom.class_outputs import class_stats, number_key

TEMPLATES = Path(__file__).with_name("templates")
PART_TITLES = {
    "partA": "part A: the server",
    "partB": "part B: the squarer tests",
    "partC": "part C",
    "format": "format",
    "rules": "course rules",
}
# A submission is marked slow when it took at least twice the median and
# SLOW_MARGIN seconds more.
SLOW_MARGIN = 30.0
SHOWN_PAIRS = 30  # the likeliest pairs whose passages are shown side by side
# Failure kinds: the first whose words appear in a failure message names it.
KINDS = (
    ("race on the store", ("two threads used the store",)),
    ("thread left running", ("thread(s) the server started",)),
    ("socket left open", ("socket(s) still open",)),
    ("not written", ("notimplementederror",)),
    (
        "hang",
        (
            "did not return within",
            "and got nothing",
            "waited",
            "could not send",
            "was running when",
            "timed out",
            "hung",
        ),
    ),  # fmt: skip
    ("wrong counts", ("count_active()", "count_dropped()")),
    ("wrong replies or store", ("expected", "the store holds")),
    ("did not run", ("did not run", "not run")),
    ("course rules", ("forbidden", "uses ")),
    ("format", ("ruff", "format")),
    ("squarer tests", ("chaff", "wheat", "correct squarer")),
)


@dataclass
class TestRow:
    """One line of a student's grade table."""

    number: str
    name: str
    part: str
    score: float
    max_score: float
    passed: bool
    output: str
    pictures: list[str]  # links, relative to the report


@dataclass
class Student:
    """One student's section."""

    outcome: Outcome
    anchor: str
    tests: list[TestRow]
    output: str  # the grader's note for the whole submission
    results_href: str
    log_href: str  # "" where the grader's log is missing or empty
    feedback_href: str  # what the student sees (feedback.txt), or ""
    slow: bool = False

    @property
    def failures(self) -> list[TestRow]:
        return [test for test in self.tests if not test.passed]


@dataclass
class Kind:
    """Failures of one kind: which students hit it, and with what words."""

    name: str
    students: list[Student] = field(default_factory=list)
    messages: dict[str, list[Student]] = field(default_factory=dict)


def write_report(
    outcomes: Sequence[Outcome],
    path: Path,
    submissions: dict[str, Path] | None = None,
    *,
    settings: Path | None = None,
    jobs: int | None = None,
    made_up: str = "",
) -> Path:
    """Write the report of ``outcomes`` to ``path``; return it.

    ``submissions``: each student's folder or zip, for the similar pairs
    (None: none are looked for); ``settings``: the settings file they were
    graded with (None: grading/settings.toml); ``jobs``: how many at a time;
    ``made_up``: where results that no grader made come from (the page then
    says, at its top, that they are made up).
    """
    students = [_student(outcome, path.parent) for outcome in outcomes]
    _mark_slow(students)
    pairs = similarity.similar_pairs(submissions, settings) if submissions else []
    graded = [student for student in students if student.outcome.status == "graded"]
    page = _template().render(
        made=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        students=students,
        graded=graded,
        refused=_with_status(students, "refused"),
        failed=[s for s in students if s.outcome.status not in ("graded", "refused")],
        reused=sum(student.outcome.reused for student in students),
        jobs=jobs,
        stats=class_stats(outcomes),
        parts=PARTS,
        made_up=made_up,
        charts=score_charts(graded),
        rates=pass_rates(graded),
        rate_chart=_rate_chart(pass_rates(graded)),
        kinds=failure_kinds(graded),
        pairs=pairs,
        groups=similarity.groups(pairs),
        shown_pairs=SHOWN_PAIRS,
        similar_checked=submissions is not None,
        by_time=sorted(students, key=lambda s: -s.outcome.seconds),
        longest=max([s.outcome.seconds for s in students] + [1.0]),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["anchor"] = anchor
    return environment.get_template("report.html.j2")


def anchor(student: str) -> str:
    """The id of a student's section in the page."""
    return "student-" + re.sub(r"[^A-Za-z0-9_-]", "_", student)


def _with_status(students: list[Student], status: str) -> list[Student]:
    return [student for student in students if student.outcome.status == status]


# Each student.


def _student(outcome: Outcome, page: Path) -> Student:
    report = read_results(outcome.results) or {}
    folder = outcome.results.parent
    tests = [
        _test_row(test, folder, page)
        for test in report.get("tests", [])
        if isinstance(test, dict)
    ]
    return Student(
        outcome,
        anchor(outcome.student),
        tests,
        str(report.get("output") or ""),
        _href(outcome.results, page),
        _href_if_any(folder / "grader.log", page),
        _href_if_any(folder / "feedback.txt", page),
    )


def _test_row(test: dict, folder: Path, page: Path) -> TestRow:
    extra = test.get("extra_data")
    pictures = extra.get("pictures", []) if isinstance(extra, dict) else []
    return TestRow(
        str(test.get("number", "")),
        str(test.get("name", "?")),
        part_of(test),
        float(test.get("score") or 0),
        float(test.get("max_score") or 0),
        not is_failed(test),
        str(test.get("output") or ""),
        [_href(folder / str(picture), page) for picture in pictures],
    )


def _href(target: Path, page: Path) -> str:
    """A link from the report in ``page`` to ``target``, as a relative URL."""
    relative = os.path.relpath(target.resolve(), page.resolve())
    return quote(Path(relative).as_posix())


def _href_if_any(target: Path, page: Path) -> str:
    """A link to ``target``, or "" where it is missing or empty (no empty links)."""
    try:
        return _href(target, page) if target.stat().st_size else ""
    except OSError:
        return ""


def _mark_slow(students: list[Student]) -> None:
    times = [student.outcome.seconds for student in students]
    if not times:
        return
    limit = max(2 * statistics.median(times), statistics.median(times) + SLOW_MARGIN)
    for student in students:
        student.slow = student.outcome.seconds >= limit


# The class.


def score_charts(graded: list[Student]) -> list[tuple[str, Markup]]:
    """A bar chart of the students by score, for the total and for each part."""
    charts = []
    wholes = [(s.outcome.score, s.outcome.max_score) for s in graded]
    if wholes:
        charts.append(("total", _distribution("total", wholes)))
    for part in PARTS:
        points = [_part_points(student, part) for student in graded]
        if any(maximum > 0 for _, maximum in points):
            charts.append((PART_TITLES[part], _distribution(part, points)))
    return charts


def _part_points(student: Student, part: str) -> tuple[float, float]:
    tests = [test for test in student.tests if test.part == part]
    return (
        sum(test.score for test in tests),
        sum(test.max_score for test in tests),
    )


def _distribution(title: str, points: list[tuple[float, float]]) -> Markup:
    """Students by score, one bar per whole point (the last holds full marks)."""
    top = max(int(maximum) for _, maximum in points)
    counts = [0] * (top + 1)
    for score, _ in points:
        counts[min(max(int(score), 0), top)] += 1
    chart = pygal.Bar(**_CHART, title=title, x_title="points", y_title="students")
    chart.x_labels = [str(score) for score in range(top + 1)]
    step = -(-max(counts) // 8)  # whole students, eight marks at most
    chart.y_labels = list(range(0, max(counts) + step, step))
    chart.add("students", counts)
    return _svg(chart)


_CHART = {  # no script to fetch, no XML prologue: SVG inline in the page
    "js": [],
    "disable_xml_declaration": True,
    "show_legend": False,
    "print_values": True,
    "print_zeroes": False,
    "width": 480,
    "height": 300,
    "explicit_size": True,
}


def _svg(chart: pygal.graph.graph.Graph) -> Markup:
    return Markup(chart.render(is_unicode=True))


def pass_rates(graded: list[Student]) -> list[tuple[str, str, int, int]]:
    """(number, name, students who passed, students graded) of every test."""
    passed: dict[tuple[str, str], int] = defaultdict(int)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for student in graded:
        for test in student.tests:
            seen[test.number, test.name] += 1
            passed[test.number, test.name] += test.passed
    order = sorted(seen, key=lambda key: (number_key(key[0]), key[1]))
    return [
        (number, name, passed[number, name], seen[number, name])
        for number, name in order
    ]


def _rate_chart(rates: list[tuple[str, str, int, int]]) -> Markup | None:
    if not rates:
        return None
    options = _CHART | {"width": 720, "height": 60 + 26 * len(rates), "range": (0, 100)}
    chart = pygal.HorizontalBar(**options, title="passed (% of graded)")
    rows = rates[::-1]  # pygal draws the first bar at the bottom
    chart.x_labels = [f"{number} {name}"[:48] for number, name, _, _ in rows]
    chart.add("passed", [round(100 * done / of) for _, _, done, of in rows])
    return _svg(chart)


def failure_kinds(graded: list[Student]) -> list[Kind]:
    """The failures of graded students by kind, the commonest kind first."""
    kinds: dict[str, Kind] = {}
    for student in graded:
        for test in student.failures:
            message = _gist(test.output) or test.name
            kind = kinds.setdefault(kind_of(message), Kind(kind_of(message)))
            if student not in kind.students:
                kind.students.append(student)
            who = kind.messages.setdefault(message, [])
            if student not in who:
                who.append(student)
    for kind in kinds.values():
        kind.messages = dict(sorted(kind.messages.items(), key=lambda i: -len(i[1])))
    return sorted(kinds.values(), key=lambda kind: -len(kind.students))


def kind_of(message: str) -> str:
    """The kind of a failure message (KINDS), or "other"."""
    words = message.lower()
    for kind, clues in KINDS:
        if any(clue in words for clue in clues):
            return kind
    return "other"


def _gist(output: str) -> str:
    """What a failure says, in a line that others' alike failures share: its
    first line of a known kind (else its first line), cut at its first colon
    if what comes before says enough, numbers and quoted values blanked."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    known = [line for line in lines if kind_of(line) != "other"]
    line = (known or lines or [""])[0]
    head = line.partition(": ")[0]
    line = head if len(head) >= 20 and head != line else line
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    return re.sub(r"\d+(\.\d+)?", "N", line)[:200]
