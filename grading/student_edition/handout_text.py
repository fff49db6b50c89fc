"""HANDOUT.md's two sections that follow the settings and the platform.

"How it is graded" (the points table, the course rules' cost, the Python
that grades and the ruff that checks the format) and "How to hand in" (a
zip for Gradescope, the files for PrairieLearn) are written here, from the
grading settings and the platform the instructor names (``[handout]
platform``). ``build_handout`` puts them in HANDOUT.md's ``GRADING`` and
``HANDIN`` regions; the instructor tree's HANDOUT.md holds them as the
default settings write them for Gradescope, and a test keeps it so.
"""

from __future__ import annotations

import itertools
import re
import textwrap

from grading.submission.intake import PARTC_SERVER, SERVER, TESTS
from grading.settings import PartATest, Settings, pinned_ruff

REFLECTION = "partC/REFLECTION.md"  # handed in with partC, read by the staff
# The Python that runs the grader on each platform (grading/platforms/autograder.py's
# setup.sh takes the image's own; PrairieLearn's is the course's image).
PYTHON = {
    "gradescope": "Python 3.10 (Gradescope's default image, Ubuntu 22.04)",
    "prairielearn": "the Python of the course's PrairieLearn grading image, "
    "which may be as old as 3.10",
}


def handin_files(partC: bool) -> list[str]:
    """The files a student hands in, at their paths in the handout."""
    return [SERVER, TESTS, *([PARTC_SERVER, REFLECTION] if partC else [])]


def grading_section(settings: Settings, platform: str, partC: bool) -> str:
    """The section "How it is graded": the table and the rules that make the
    grade (``partC``: whether the handout ships partC, whose suites are graded)."""
    ruff = pinned_ruff().partition("==")[2]
    suites = [suite for suite in settings.partC.suites if suite.points and partC]
    rows = [*_partA_rows(settings.points.partA), *_other_rows(settings, ruff)]
    rows += [
        f"| C: `{suite.file}` | {suite.points:g} | split evenly among its tests |"
        for suite in suites
    ]
    total = settings.max_score - settings.partC.total
    total += sum(suite.points for suite in suites)
    table = ["| part | points | how |", "|---|---|---|", *rows]
    table.append(f"| total | {total:g} | |")
    paragraphs = [
        "Part A is graded with the same tests you have, on a machine that may be "
        "faster or slower than yours, and a test must pass every time it runs: a "
        f"race that shows up one run in ten will show up. {_rules(settings)} The "
        "grade's details tell you which part A tests failed and why, and how many "
        "of the buggy squarers your tests caught (not which ones).",
        "A file handed in as it was handed out earns nothing: the starter "
        f"`{TESTS}` scores 0 for part B (what its one test catches is not your "
        f"work), and the stub `{SERVER}` earns no format point. Comments, blank "
        "lines and docstrings alone do not make a file yours.",
        f"Your files are graded with {PYTHON[platform]}: code that needs a newer "
        "Python than that (an f-string that only 3.12 accepts, say) does not "
        "compile there, "
        f"and its tests score 0. The format is checked with ruff {ruff}, the "
        'version that `python -m pip install -e ".[test]"` installs. Before you '
        "hand in, format your files:",
    ]
    return "\n\n".join(
        [
            "\n".join(table),
            *map(_wrap, paragraphs),
            f"```sh\nruff format {SERVER} {TESTS}\n```\n",
        ]
    )


def _wrap(paragraph: str) -> str:
    return textwrap.fill(paragraph, width=76, break_long_words=False)


def handin_section(platform: str, partC: bool) -> str:
    """The section "How to hand in", on ``platform``, with partC or without."""
    if platform == "prairielearn":
        if partC:
            raise ValueError(
                "the PrairieLearn question takes partA/server.py and "
                "partB/test_squarer.py only: hand out partC for Gradescope"
            )
        return f"""On the assignment's PrairieLearn question, upload your two
files, `{SERVER}` and `{TESTS}` (the page asks for them
by their names, `server.py` and `test_squarer.py`), and save them for
grading. Each submission is graded on its own; the question's page shows
the grade and says how many attempts you have.
"""
    files = handin_files(partC)
    listed = ", ".join(f"'{name}'" for name in files)
    return f"""Hand in a zip that holds exactly your files, at these paths, from the
handout's folder:

```sh
zip handin.zip {" ".join(files)}
```

or, where `zip` is missing (Windows):

```sh
{_PYTHON_ZIP.format(listed=listed)}
```

Do not rename the files, and do not zip the folder around them. Upload
`handin.zip` to Gradescope; you may hand in as often as you like, and the
last one counts.
"""


_PYTHON_ZIP = (  # the zip command for a machine without zip (Windows)
    "python -c \"import zipfile; z = zipfile.ZipFile('handin.zip', 'w'); "
    '[z.write(f) for f in ({listed})]"'
)


def _partA_rows(tests: tuple[PartATest, ...]) -> list[str]:
    """One row per suite: "| A: TestBasic 1-6 | 6 | one point a test |"."""
    graded = [test for test in tests if test.points]
    rows = []
    for suite, group in itertools.groupby(graded, key=lambda test: test.suite):
        group = list(group)
        total = sum(test.points for test in group)
        points = {test.points for test in group}
        if len(points) == 1:
            each = points.pop()
            how = "one point a test" if each == 1 else f"{each:g} points a test"
        else:
            how = ", ".join(f"{_short(t)}: {t.points:g}" for t in group)
        rows.append(f"| A: {_label(suite, group)} | {total:g} | {how} |")
    return rows


def _label(suite: str, tests: list[PartATest]) -> str:
    """The suite's tests: "TestBasic 1-6", "TestCount 1, 3", or their names."""
    numbers = [re.fullmatch(r"test_\D+(\d+)", test.name) for test in tests]
    if tests[0].in_module or not all(numbers):
        names = ", ".join(f"`{test.name}`" for test in tests)
        return f"`{tests[0].file}`: {names}" if tests[0].in_module else names
    values = [int(found.group(1)) for found in numbers if found]
    if values == list(range(values[0], values[0] + len(values))) and len(values) > 1:
        return f"{suite} {values[0]}-{values[-1]}"
    return f"{suite} {', '.join(map(str, values))}"


def _short(test: PartATest) -> str:
    found = re.fullmatch(r"test_\D+(\d+)", test.name)
    return found.group(1) if found and not test.in_module else f"`{test.name}`"


def _other_rows(settings: Settings, ruff: str) -> list[str]:
    points, runs = settings.points, settings.runs
    rows = []
    if checks := settings.policy.lines(settings):
        rows.append(
            f"| A: the checks at `close()` | {checks:g} | {_checks(settings)} |"
        )
    if points.partB:
        rows.append(
            f"| B: your squarer tests | {points.partB:g} | your tests must pass, on "
            f"every run, on every correct squarer, each test within "
            f"{runs.partB_test_seconds:g} s (else part B scores 0: a test that fails "
            f"on a correct squarer is wrong, whatever it catches); then "
            f"{points.partB:g} x (buggy squarers caught) / (buggy squarers). A buggy "
            f"squarer is caught when some test of yours fails on it on every run |"
        )
    if points.format:
        rows.append(
            f"| format | {points.format:g} | `ruff format --check {SERVER} {TESTS}` "
            f"passes (ruff {ruff}) |"
        )
    return rows


def _checks(settings: Settings) -> str:
    each = settings.policy.check_points
    return (
        f"{each:g} for each of: one owner per piece of state, every thread joined, "
        "no socket left open; each is lost if any graded test fails it (such a "
        "failure does not fail the test itself)"
    )


def _rules(settings: Settings) -> str:
    rules = settings.rules
    if not rules.costs_points:
        return (
            "Forbidden names in your server (see the rules) are reported, and the "
            "course staff also read your code."
        )
    each = (
        "a point"
        if rules.points_per_violation == 1
        else (f"{rules.points_per_violation:g} points")
    )
    return (
        f"Each forbidden name in your server (see the rules) costs {each} (at "
        f"most {rules.max_penalty:g} in all), and the course staff also read "
        f"your code."
    )
