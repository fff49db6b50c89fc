"""The class report and its similar pairs, looked at as an instructor would.

A small class of our own (``grading/proof/sample_class.py``): full marks, a racy
server, a hang, a renamed and reordered copy, a refused zip, and a grader
that did not finish. Most tests make up its results, for speed; the last
grades it for real. Where Debian's ``chromium`` is installed, the page is
opened in it, headless, and what it shows is checked.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

pytest.importorskip("jinja2", reason='the report needs: pip install -e ".[grading]"')
pytest.importorskip("pygal", reason='the report needs: pip install -e ".[grading]"')
pytest.importorskip(
    "copydetect", reason='the report needs: pip install -e ".[grading]"'
)

from grading.classroom import batch, similarity  # noqa: E402
from grading.__main__ import main  # noqa: E402
from grading.classroom.class_outputs import CANVAS_COLUMNS, MOODLE_COLUMNS  # noqa: E402
from grading.classroom.report_html import write_report  # noqa: E402
from grading.proof.sample_class import (  # noqa: E402
    MADE_UP,
    OWN_SERVER,
    disguise,
    fabricate_results,
    squarer_tests,
    write_class,
)
from grading.settings import load_settings  # noqa: E402

KIT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium to look at the report with (Debian: apt-get install chromium)",
)
KINDS = {
    "alice": "full marks",
    "bob": "race",
    "carol": "hang",
    "dave": "copy",
    "erin": "refused",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the small class, its results made up."""
    folder = tmp_path_factory.mktemp("report")
    submissions = write_class(folder / "class")
    out = folder / "class-results"
    outcomes = fabricate_results(out, KINDS)
    frank = batch.grade_one("frank", folder / "class" / "alice", out / "frank", 0.01)
    outcomes.append(frank)
    batch.class_outputs.write_feedback(outcomes)
    (out / "summary.txt").write_text(batch.summary(outcomes, 1.0, 2))
    page = out / "report.html"
    return write_report(outcomes, page, submissions, made_up=MADE_UP)


class Page(HTMLParser):
    """What a page holds: its text, its links, the ids of its elements."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.sources: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.ids |= {found["id"]} if found.get("id") else set()
        self.links += [found["href"]] if tag == "a" and found.get("href") else []
        self.sources += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def says(self) -> str:
        """The text, one space between words (none before "," ":" ")")."""
        text = " ".join(" ".join(self.text).split())
        return re.sub(r" (?=[,:)])|(?<=\() ", "", text)


def test_the_page_needs_nothing_from_elsewhere(report: Path) -> None:
    html = report.read_text()
    page = Page(html)
    assert not [s for s in page.sources if re.match(r"\w+:|//", s)]
    assert "<link" not in html
    assert not re.search(r"<script[^>]+src=", html)
    assert "@import" not in html


def linked_files(report: Path) -> list[Path]:
    """The files the report links to; checks that its links inside lead to
    an element of the page."""
    page = Page(report.read_text())
    inside = [link[1:] for link in page.links if link.startswith("#")]
    assert inside
    assert set(inside) <= page.ids
    files = [report.parent / unquote(link) for link in page.links if "#" not in link]
    assert [path for path in files if not path.is_file()] == []
    return files


def test_every_link_leads_somewhere(report: Path) -> None:
    files = linked_files(report)
    assert report.parent / "bob" / "pictures" / "test_basic3.html" in files
    assert report.parent / "alice" / "feedback.txt" in files
    assert [path for path in files if not path.stat().st_size] == []  # none empty


def test_frank_whose_grader_was_killed_has_no_empty_log_link(report: Path) -> None:
    """frank's grader was killed before it said anything: no link to nothing."""
    assert not (report.parent / "frank" / "grader.log").stat().st_size
    assert "frank/grader.log" not in report.read_text()


def test_made_up_results_say_so_at_the_top(report: Path) -> None:
    html = report.read_text()
    assert html.index('id="made-up"') < html.index('id="grades"')
    assert "Made-up data." in Page(html).says()


def test_the_grades_table_comes_first_a_row_a_student_sortable(report: Path) -> None:
    html = report.read_text()
    assert html.index('id="grades-table"') < html.index('id="scores"')
    table = html[html.index('id="grades-table"') : html.index("</table>")]
    rows = re.findall(r'<tr><td><a href="#student-(\w+)"', table)
    assert rows == ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert 'class="sortable"' in table
    assert "<script>" in html  # the sorting, written into the page


def test_the_summary_and_the_report_count_the_class_alike(report: Path) -> None:
    """One mean and median: of the graded only, in summary.txt and the page."""
    summary = (report.parent / "summary.txt").read_text()
    line = next(line for line in summary.splitlines() if "mean" in line)
    assert "of the 4 graded submissions" in line
    assert "1 refused and 1 not graded are counted apart" in line
    assert line in Page(report.read_text()).says()


def test_the_report_shows_the_class(report: Path) -> None:
    says = Page(report.read_text()).says()
    assert "6 submissions: 4 graded, 1 refused, 1 not graded by the grader" in says
    assert "1.3 partA TestBasic.test_basic3 2 4 50%" in says
    assert "race on the store: 1 student" in says
    assert "hang: 1 student 1 client N waited N s for reply N of N" in says
    assert "Refused (1): nothing in them could be graded erin: none of" in says
    assert "frank: timed out: the grader took longer than 0.01 s" in says


def test_the_copies_and_only_they_are_listed_as_similar(report: Path) -> None:
    """dave's files are alice's, disguised; carol's server is bob's with one
    line added (a Get that waits for ever)."""
    html = report.read_text()
    start = html.index('id="pairs"')
    pairs = Page(html[start : html.index("</table>", start)]).says()
    listed = re.findall(
        r"(partA/server.py|partB/test_squarer.py) (\w+) and (\w+)", pairs
    )
    assert listed == [
        ("partA/server.py", "bob", "carol"),
        ("partA/server.py", "alice", "dave"),
        ("partB/test_squarer.py", "alice", "dave"),
    ]
    assert html.count('<details class="pair">') == 3
    assert "<mark>" in html  # the shared passages, marked


def test_the_hang_is_marked_slow(report: Path) -> None:
    html = report.read_text()
    timing = html[html.index('id="timing"') :]
    slow = re.findall(r'<tr class="slow">\s*<td><a href="#student-(\w+)"', timing)
    assert slow == ["carol"]


# ----- similar pairs -------------------------------------------------------------


def test_a_disguised_copy_ranks_above_honest_look_alikes() -> None:
    """Servers written apart (the reference, two benchmark servers, bob's, the
    untouched stub) and a disguised copy of the reference; then test files."""
    stubs = similarity.stub_files(load_settings())
    reference = (KIT_ROOT / "partA" / "server.py").read_text()
    servers = {
        "reference": reference,
        "copy": disguise(reference),
        "bob": OWN_SERVER,
        "stub": stubs["partA/server.py"],
        **{
            name: (KIT_ROOT / "benchmarks" / "servers" / f"{name}.py").read_text()
            for name in ("naive_server", "asyncio_server")
        },
    }
    tests = {name: squarer_tests(name) for name in ("honest_long", "hanging")}
    tests |= {name: squarer_tests(name) for name in ("over_specified", "sleep_ordered")}
    tests["copy"] = disguise(tests["honest_long"])
    tests["reference"] = (KIT_ROOT / "partB" / "test_squarer.py").read_text()
    for name, texts, original in (
        ("partA/server.py", servers, "reference"),
        ("partB/test_squarer.py", tests, "honest_long"),
    ):
        pairs = similarity.compare(texts, stubs[name], name, 0.0, min_tokens=1)
        ranked = sorted(pairs, key=lambda pair: -pair.score)
        print(name, *(f"{p.first}~{p.second} {p.score:.2f} {p.tokens}" for p in ranked))
        assert {ranked[0].first, ranked[0].second} == {original, "copy"}
        assert ranked[0].score >= 0.9
        assert ranked[0].score - ranked[1].score >= 0.3  # far above the honest
        assert not [p for p in pairs if "stub" in (p.first, p.second)]
        listed = similarity.compare(texts, stubs[name], name)
        assert [(p.first, p.second) for p in listed] == [
            (ranked[0].first, ranked[0].second)
        ]


# ----- in a browser ----------------------------------------------------------------


def chromium(page: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium on ``page``; its standard output."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,  # a bound, not a measure: it takes a few seconds
        check=True,
    )
    return done.stdout


@needs_chromium
def test_chromium_shows_the_report(report: Path, tmp_path: Path) -> None:
    dom = chromium(report, tmp_path / "profile", "--dump-dom")
    page = Page(dom)
    assert dom.count("<svg") == 5  # total, partA, partB, format; pass rates
    says = page.says()
    assert "race on the store: 1 student" in says
    assert "partA/server.py alice and dave" in says
    assert {"student-alice", "student-erin", "student-frank"} <= page.ids
    shot = tmp_path / "report.png"
    chromium(
        report, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}"
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 50_000  # charts and tables, not a blank page


# ----- the whole verb, on real submissions ----------------------------------------


def quick_settings(path: Path) -> Path:
    """grading/settings.toml with two partA tests, no partB, short deadlines."""
    text = (KIT_ROOT / "grading" / "settings.toml").read_text()
    for line in re.findall(r"^test_\w+ = 1$", text, flags=re.MULTILINE):
        if line not in ("test_basic1 = 1", "test_basic3 = 1"):
            text = text.replace(line, line[:-1] + "0")
    for key, value in (("partB", 0), ("test_seconds", 10), ("reply_seconds", 4),
                       ("call_seconds", 4), ("partA_seconds", 60)):  # fmt: skip
        text = re.sub(rf"^{key} = \d+", f"{key} = {value}", text, flags=re.MULTILINE)
    path.write_text(text)
    return path


@pytest.mark.slow
def test_batch_grades_the_small_class_then_reuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_class(tmp_path / "class")
    settings = quick_settings(tmp_path / "quick.toml")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "folder,id,name,sis_user_id,sis_login_id,section,email\n"
        "alice,1001,Alice A,s1001,alice@uni.example,L01,alice@uni.example\n"
        "carol,1003,Carol C,,,,\ndave,1004,Dave D,,,,\nerin,1005,Erin E,,,,\n"
        "frank,1006,Frank F,,,,\n"
    )
    verb = ["batch", str(tmp_path / "class"), "-j", "2", "--settings", str(settings)]
    verb += ["--roster", str(roster), "--assignment", "P0 (77)"]
    assert main(verb) == 0
    said = capsys.readouterr().out
    out = tmp_path / "class-results"
    assert f"Report: {out / 'report.html'} (made in " in said
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["alice"]["partA"] == "2"  # the reference
    assert rows["carol"]["partA"] == "0"  # every Get hangs
    assert rows["erin"]["status"] == "refused"
    says = Page((out / "report.html").read_text()).says()
    assert "5 submissions: 4 graded, 1 refused, 0 not graded" in says
    assert "partA/server.py bob and carol" in says
    assert "partA/server.py alice and dave" in says
    assert "hang: 1 student" in says
    assert out / "alice" / "results.json" in linked_files(out / "report.html")
    assert "Total: 3 / 3" in (out / "alice" / "grader.log").read_text()
    assert (out / "alice" / "feedback.txt").read_text().startswith("P0, alice: 3 / 3")
    canvas = list(csv.reader((out / "canvas.csv").open()))
    assert canvas[0] == [*CANVAS_COLUMNS, "P0 (77)"]
    assert ["Alice A", "1001", "s1001", "alice@uni.example", "L01", "3"] in canvas
    assert ["Erin E", "1005", "", "", "", "0"] in canvas  # refused: 0
    moodle = list(csv.reader((out / "moodle.csv").open()))
    assert moodle[0] == [*MOODLE_COLUMNS, "P0 (77)"]
    assert ["1001", "alice@uni.example", "3"] in moodle
    assert len(moodle) == 5  # bob is not in the roster
    assert "Not in the roster, so in neither: bob" in said
    assert "In the roster, with no submission: frank" in said
    assert main(verb) == 0
    again = capsys.readouterr()
    assert "reused 5 results graded before" in again.err
    assert "(5 reused from an earlier run)" not in again.out  # one line says both
    assert "2 at a time; 5 reused from an earlier run)." in again.out


def test_pairs_that_chain_make_one_group() -> None:
    def pair(first: str, second: str, file: str = "partA/server.py") -> similarity.Pair:
        return similarity.Pair(file, first, second, (1.0, 1.0), 500, ("", ""))

    pairs = [pair("a", "b"), pair("c", "d"), pair("b", "e")]
    pairs.append(pair("x", "y", "partB/test_squarer.py"))
    assert similarity.groups(pairs) == [
        ("partA/server.py", ["a", "b", "e"]),
        ("partA/server.py", ["c", "d"]),
        ("partB/test_squarer.py", ["x", "y"]),
    ]


def test_the_sample_full_marks_student_keeps_the_format_point(tmp_path: Path) -> None:
    """alice's files are formatted as handed out (the report's full marks)."""
    from grading.submission.grade import grade_submission

    alice = write_class(tmp_path / "class")["alice"]
    settings = load_settings(overrides={"points": {"partA": {}, "partB": 0}})
    report = grade_submission(alice, settings)
    assert (report.score, report.max_score) == (1, 1), report.tests


@pytest.mark.slow
def test_the_sample_full_marks_student_gets_16_of_16(tmp_path: Path) -> None:
    from grading.submission.grade import grade_submission

    alice = write_class(tmp_path / "class")["alice"]
    report = grade_submission(alice, load_settings())
    assert (report.score, report.max_score) == (16, 16), report.tests
