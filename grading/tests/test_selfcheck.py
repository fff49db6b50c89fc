"""The grader's self-check passes on this tree: the reference earns full marks,
every graded mutant loses points where it should, every chaff is caught, and
the handout's stubs fail fast. Short deadlines keep it within two minutes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from grading.proof import selfcheck
from grading.proof.server_mutants import CAUGHT_BY
from partA.server import KeyValueServer

SHORT = {"runs": {"reply_seconds": 5, "call_seconds": 4}}


def test_a_mutant_becomes_a_server_file(tmp_path: Path) -> None:
    path = tmp_path / "server.py"
    path.write_text(selfcheck.mutant_source("StoresTerminator"))
    spec = importlib.util.spec_from_file_location("mutant_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutant_server"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["mutant_server"]
    server = module.KeyValueServer
    assert server.__name__ == "StoresTerminator"
    assert server.__mro__[1].__name__ == KeyValueServer.__name__
    assert server.__mro__[1] is not KeyValueServer  # its own copy of the reference


def test_the_table_says_what_failed() -> None:
    rows = [
        selfcheck.Check("reference", "reference", True, "16/16", 40.0),
        selfcheck.Check("mutant", "Sneaky", False, "NOT CAUGHT", 3.0),
    ]
    text = selfcheck.table(rows)
    assert "ok    reference" in text
    assert "FAIL  mutant" in text
    assert text.endswith("selfcheck: FAIL (1 of 2 checks)")


@pytest.mark.slow
def test_selfcheck_passes() -> None:
    rows = selfcheck.run_selfcheck(jobs=2, overrides=SHORT)
    print(selfcheck.table(rows))
    assert all(row.passed for row in rows), selfcheck.table(rows)
    kinds = [row.kind for row in rows]
    assert kinds.count("mutant") == len(CAUGHT_BY)
    assert {"reference", "chaff", "stubs"} <= set(kinds)
