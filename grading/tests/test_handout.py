"""The handout generator: stubs in the right places, clear marker errors, and a
student tree whose suites fail fast on the stubs instead of hanging."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grading import squarer_tests, squarers
from grading.platforms.autograder import requirements
from grading.settings import pinned_ruff
from grading.student_edition.handout import (
    GRADED_CHAFFS,
    ROOT,
    FormatError,
    MarkerError,
    build_handout,
    cut_regions,
    fill_regions,
    settings_sections,
    shipped_tags,
)
from grading.settings import load_settings

SOURCE = textwrap.dedent('''\
    import queue

    # BEGIN SOLUTION
    HELPER = 1
    # END SOLUTION


    class Server:
        def start(
            self, port: int
        ) -> int:
            """Start; the contract stays."""
            # BEGIN SOLUTION
            return port
            # END SOLUTION

        # BEGIN SOLUTION
        def _private(self) -> None:
            pass
        # END SOLUTION
    ''')


def test_function_regions_become_stubs_and_others_vanish() -> None:
    out = cut_regions(SOURCE, "server.py")
    assert "HELPER" not in out
    assert "_private" not in out
    assert "return port" not in out
    assert '        """Start; the contract stays."""\n' in out
    assert '        raise NotImplementedError("start(): your code here")\n' in out
    compile(out, "server.py", "exec")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("# END SOLUTION\n", "x.py:1: END SOLUTION without a BEGIN SOLUTION"),
        ("# BEGIN SOLUTION\n\n", "x.py:1: BEGIN SOLUTION never closed"),
        ("# BEGIN SOLUTION\n# BEGIN HINTS\n", "x.py:2: BEGIN HINTS inside the SOL"),
        ("<!-- BEGIN PARTC -->\n<!-- END HINTS -->\n", "x.py:2: END HINTS without"),
        ("    .. BEGIN DESIGNS\n", "x.py:1: BEGIN DESIGNS: unknown region"),
    ],
)
def test_marker_errors_name_file_and_line(text: str, error: str) -> None:
    with pytest.raises(MarkerError, match="^" + error):
        cut_regions(text, "x.py")


DOCUMENT = textwrap.dedent("""\
    Always.
    <!-- BEGIN PARTC -->
    With partC.
    <!-- END PARTC -->
    <!-- BEGIN NOPARTC -->
    Without partC.
    <!-- END NOPARTC -->
    <!-- BEGIN HINTS -->
    A hint.
    <!-- END HINTS -->
    .. BEGIN DESIGN
    The design.
    .. END DESIGN
    <!-- BEGIN INSTRUCTOR -->
    For instructors.
    <!-- END INSTRUCTOR -->
    """)


@pytest.mark.parametrize(
    ("partC", "hints", "lines"),
    [
        (False, "contract", ["Always.", "Without partC."]),
        (False, "hints", ["Always.", "Without partC.", "A hint."]),
        (True, "hints", ["Always.", "With partC.", "A hint."]),
        (True, "design", ["Always.", "With partC.", "A hint.", "The design."]),
    ],
)
def test_regions_ship_by_the_settings(
    partC: bool, hints: str, lines: list[str]
) -> None:
    keep = shipped_tags(partC=partC, hints=hints)
    assert cut_regions(DOCUMENT, "x.md", keep).splitlines() == lines


def test_without_ruff_the_verb_writes_nothing_and_names_the_fix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without ruff the stubs would lose the format point untouched: refuse."""
    from grading.student_edition import handout

    load_settings()  # the kit's tests are collected while there is a Python
    monkeypatch.setattr(handout.sys, "executable", str(tmp_path / "no-python"))
    args = argparse.Namespace(
        out=tmp_path / "out", settings=None, hints=None, platform=None
    )
    assert handout.command(args) == 1
    error = capsys.readouterr().err
    assert "could not run ruff format" in error
    assert "Nothing was written. Install ruff" in error
    assert not (tmp_path / "out").exists(), "a half-made tree was left behind"
    with pytest.raises(FormatError):
        build_handout(tmp_path / "out")


@pytest.fixture(scope="module")
def handout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("handout") / "p0"
    build_handout(out)
    return out


def test_handout_holds_no_solution_and_no_instructor_file(handout: Path) -> None:
    shipped = {p.relative_to(handout).as_posix() for p in handout.rglob("grading/**/*")}
    judge = {name for name in squarer_tests.FILES if name.startswith("grading/")}
    wheats = {f"grading/squarers/wheat_{wheat.name}.py" for wheat in squarers.wheats()}
    others = {"grading/squarers", "grading/squarers/__init__.py", GRADED_CHAFFS}
    assert shipped == judge | wheats | others  # partB's judge and wheats, no chaff
    assert int((handout / GRADED_CHAFFS).read_text()) == len(squarers.chaffs())
    assert not (handout / "benchmarks").exists()  # its servers are solutions
    assert not (handout / ".ci").exists()
    for path in handout.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text()
            assert "SOLUTION" not in text, path
            assert "INSTRUCTOR" not in text, path
    pyproject = (handout / "pyproject.toml").read_text()
    assert "grading" not in pyproject
    assert "benchmarks" not in pyproject
    assert "raise NotImplementedError" in (handout / "partA/server.py").read_text()


def test_untouched_student_files_are_formatted(handout: Path) -> None:
    files = ["partA/server.py", "partB/test_squarer.py"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *files],
        cwd=handout, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (handout / "HANDOUT.md").is_file()


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_stubs_fail_every_partA_test_fast(handout: Path) -> None:
    result = run_pytest(handout, "partA", "--timeout", "10")
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout
    assert "passed" not in summary, summary
    assert "NotImplementedError" in result.stdout
    seconds = float(summary.rsplit(" in ", 1)[1].split("s")[0])
    assert seconds < 30, f"the stubs took {seconds} s to fail"


def test_starter_squarer_test_passes(handout: Path) -> None:
    result = run_pytest(handout, "partB")
    assert result.returncode == 0, result.stdout


# ----- one source of truth: the shipped tests check only what the documents say


def shipped_test_files(handout: Path) -> list[Path]:
    return sorted(
        path
        for folder in ("partA", "partB")
        for path in (handout / folder).glob("*.py")
        if path.name.startswith(("test_", "harness", "conftest"))
    )


def required_by(path: Path) -> set[str]:
    """What a test file needs of the student's code and logs: names imported
    from the student's modules, logger names, texts looked for in the log."""
    needed = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in STUDENT_MODULES:
            needed |= {alias.name for alias in node.names}
        elif isinstance(node, ast.keyword) and node.arg == "logger":
            needed.add(ast.literal_eval(node.value))
        elif isinstance(node, ast.Compare) and "caplog" in ast.unparse(node):
            needed |= {
                part.value
                for part in ast.walk(node)
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            }
    return needed


STUDENT_MODULES = {"partA.server", "partB.squarer"}


def test_what_the_shipped_tests_need_is_in_the_documents(handout: Path) -> None:
    promised = (handout / "HANDOUT.md").read_text() + "".join(
        (handout / module.replace(".", "/")).with_suffix(".py").read_text()
        for module in STUDENT_MODULES
    )
    for path in shipped_test_files(handout):
        for needed in required_by(path):
            assert needed in promised, (
                f"{path.name} needs {needed!r} from the student's code, but "
                f"neither HANDOUT.md nor the stubs say so"
            )


def test_the_numbers_and_names_the_tests_use_are_the_handouts(handout: Path) -> None:
    from grading.settings import load_settings
    from partA import test_robustness, test_slow_client

    text = (handout / "HANDOUT.md").read_text()
    assert "`MAX_LINE = 64 * 1024`" in text
    assert f"{test_robustness.MAX_LINE:,}" in text  # 65,536
    assert f"`MAX_OUTBOX = {test_slow_client.MAX_OUTBOX}`" in text
    for kind in test_robustness.BAD_LINES:  # the kinds of bad line, in its words
        assert f"- {kind}" in text, f"HANDOUT.md's bad input does not name {kind!r}"
    for method in ("start(", "count_active(", "count_dropped(", "close("):
        assert f"`{method}" in text, method
    rules = text[text.index("## Rules") : text.index("**How the rules are checked")]
    for name in load_settings().rules.forbidden:
        short = name if name.endswith("*") else name.rpartition(".")[2]
        assert f"`{short}`" in rules or f"`{name}`" in rules, (
            f"the grader forbids {name}, and HANDOUT.md's rules do not say so"
        )


def test_shipped_tests_are_the_kits(handout: Path) -> None:
    """The checks above read the kit's copies: the handout's must be the same."""
    for path in shipped_test_files(handout):
        relative = path.relative_to(handout)
        if relative.name != "test_squarer.py":  # the student's own file
            assert path.read_bytes() == (ROOT / relative).read_bytes(), relative


@pytest.mark.parametrize(
    ("hints", "shown", "hidden"),
    [
        ("contract", [], ["HANDOUT.md's Hints", "Theory of operation", "JOINED"]),
        ("hints", ["HANDOUT.md's Hints"], ["Theory of operation", "JOINED"]),
        ("design", ["HANDOUT.md's Hints", "Theory of operation", "JOINED"], []),
    ],
)
def test_the_hint_level_sets_how_much_design_the_stub_shows(
    tmp_path: Path, hints: str, shown: list[str], hidden: list[str]
) -> None:
    build_handout(tmp_path / "p0", hints=hints)
    stub = ast.get_docstring(ast.parse((tmp_path / "p0/partA/server.py").read_text()))
    handout = (tmp_path / "p0/HANDOUT.md").read_text()
    assert "HANDOUT.md, once: the protocol" in stub  # the contract, at every level
    for text in shown:
        assert text in stub, f"{hints}: the stub should show {text!r}"
    for text in hidden:
        assert text not in stub, f"{hints}: the stub should not show {text!r}"
    assert ("## Hints" in handout) == (hints != "contract")
    assert ("**A design that works**" in handout) == (hints == "design")


# ----- HANDOUT.md's sections that the settings and the platform write -----------


def test_the_instructor_handout_says_what_the_default_settings_write() -> None:
    """HANDOUT.md's GRADING and HANDIN regions are those of the default
    settings on Gradescope: rewrite them with ``_sections`` if this fails."""
    text = (ROOT / "HANDOUT.md").read_text()
    assert (
        fill_regions(text, "HANDOUT.md", settings_sections(None, None, False)) == text
    )


def handout_text(out: Path, **options) -> str:
    build_handout(out, ruff_format=False, **options)
    return (out / "HANDOUT.md").read_text()


def test_the_handout_follows_changed_settings_and_the_platform(
    tmp_path: Path,
) -> None:
    partA = {"TestBasic": {"test_basic1": 2, "test_basic2": 2}}
    settings = load_settings(overrides={"points": {"partA": partA, "partB": 8}})
    said = handout_text(tmp_path / "pl", settings=settings, platform="prairielearn")
    assert "| A: TestBasic 1-2 | 4 | 2 points a test |" in said
    assert "then 8 x (buggy squarers caught)" in said
    assert "| total | 13 | |" in said
    graded = said[said.index("## How it is graded") :]
    assert "TestBasic 1-6" not in graded
    assert "TestCount" not in graded
    words = " ".join(said.split())
    assert "upload your two files" in words
    assert "zip handin.zip" not in said
    assert "PrairieLearn grading image" in words
    said = handout_text(tmp_path / "gs", settings=settings, platform="gradescope")
    assert "zip handin.zip partA/server.py partB/test_squarer.py\n" in said
    assert "Python 3.10 (Gradescope's default image" in said


def test_with_partC_the_zip_holds_the_reflection(tmp_path: Path) -> None:
    said = handout_text(tmp_path / "c", partC=True)
    files = "partA/server.py partB/test_squarer.py partC/server.py partC/REFLECTION.md"
    assert f"zip handin.zip {files}\n" in said
    assert "'partC/REFLECTION.md')]" in said  # the zip without zip, too
    assert "| C: `partC/test_transactions.py` | 3 |" in said
    assert (tmp_path / "c" / "partC" / "REFLECTION.md").is_file()
    with pytest.raises(ValueError, match="PrairieLearn question takes"):
        handout_text(tmp_path / "pl", partC=True, platform="prairielearn")


def test_a_robustness_test_is_listed_by_its_module(tmp_path: Path) -> None:
    partA = {"test_robustness": {"test_bad_line_is_skipped": 1}}
    settings = load_settings(overrides={"points": {"partA": partA}})
    said = handout_text(tmp_path / "r", settings=settings)
    row = "| A: `partA/test_robustness.py`: `test_bad_line_is_skipped` | 1 |"
    assert row in said


def test_students_install_the_ruff_the_grader_runs(handout: Path) -> None:
    """One ruff: the student tree's test extra pins the ruff of the bundle."""
    ruff = pinned_ruff()
    assert ruff.startswith("ruff==")
    assert f'"{ruff}"' in (handout / "pyproject.toml").read_text()
    assert ruff in requirements()
    assert f"ruff {ruff.partition('==')[2]}" in (handout / "HANDOUT.md").read_text()


def test_the_student_tree_ignores_its_virtual_environment(handout: Path) -> None:
    """Students make .venv in the tree (HANDOUT.md): git must not take it."""
    assert ".venv/" in (handout / ".gitignore").read_text().splitlines()


def test_the_design_level_cites_nothing_students_lack(tmp_path: Path) -> None:
    """The design shipped at hints=design names no benchmark notes (students
    get no benchmarks/) and describes no queue as a lock the rules forbid."""
    build_handout(tmp_path / "p0", hints="design", ruff_format=False)
    server = (tmp_path / "p0" / "partA" / "server.py").read_text()
    assert "Theory of operation" in server
    assert not (tmp_path / "p0" / "benchmarks").exists()
    for words in ("benchmark", "token", "right to post", "taking turns"):
        assert words not in server.lower(), f"{words!r} in the design"
    assert "it is no lock" in " ".join(server.split())
