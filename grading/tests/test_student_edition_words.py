"""The student edition mentions only what it ships: without partC, no file
it ships says a word of partC's requests (DESIGN: the student tree holds and
mentions only what it ships)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.student_edition.handout import build_handout

PARTC_WORDS = ("Subscribe", "Changed:", "Begin", "Rollback", "partC")


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "p0"
    build_handout(out)
    return out


@pytest.mark.parametrize("runner", ["crunner.py", "srunner.py"])
def test_the_runners_docstrings_say_nothing_of_partc(
    student_tree: Path, runner: str
) -> None:
    import ast

    source = (student_tree / "runners" / runner).read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    said = [word for word in PARTC_WORDS if word in docstring]
    assert not said, f"runners/{runner}'s docstring speaks of partC: {said}"
