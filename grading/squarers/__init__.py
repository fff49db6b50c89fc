"""The squarers that grade students' tests: wheats (correct) and chaffs (buggy).

The wheats ship in the student tree, so that students can run their tests
against them before they hand in (``python -m grading.squarer_tests``); the
chaffs never do: the handout writes down only how many there are
(``graded_chaffs()``). Each module here defines a ``Squarer`` with the
reference's public API. Its name says what it is:

- ``wheat_*.py``: a correct squarer, which every valid test passes on every
  run. It sets ``RUNS``, how many times a student's tests run against it.
- ``chaff_*.py``: the reference with one plausible bug. It sets ``HINT``, a
  line an instructor may reveal to students who miss it.

Adding a file adds a wheat or a chaff: ``implementations()`` finds them all.

Between them, the wheats take every freedom the contract leaves (the
``Squarer`` docstring, "Not in the contract"), so that a test that leans on
one fails on some wheat on every run: step timing (``slow`` pauses up to
the contract's 2 s at each step nothing waits on; ``eager`` moves on before
the reader's ``get()`` returns); the output's maxsize (1 in the reference,
unbounded in ``unbounded``, 2 in ``other_design``); the worker thread's name
(``unbounded``, ``other_design``); how the worker waits (``slow`` watches
``inputs.empty()``; ``other_design`` tries ``get_nowait()`` between naps and
watches the output until it is empty); and, in ``other_design``, written
apart from the reference, the private names, how close() stops the worker
(a message on the worker's mailbox, not an Event) and how long close()
takes (0.3 s of the contract's 0.5).
"""

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

# In the student tree: how many chaffs the graded run looks for (handout.py
# writes it, since the chaffs themselves do not ship).
GRADED_CHAFFS = Path(__file__).with_name("graded_chaffs.txt")


@dataclass(frozen=True)
class Implementation:
    """One squarer to run students' tests against."""

    name: str  # the module's name without its prefix, e.g. "doubler"
    module: str  # the importable module, e.g. "grading.squarers.chaff_doubler"
    runs: int  # wheats: how many runs a student's tests get; chaffs: 0
    hint: str  # chaffs: one line an instructor may reveal; wheats: ""
    about: str  # its docstring's first paragraph, after "Wheat: " or "Chaff: "


def implementations(prefix: str) -> list[Implementation]:
    """Every squarer whose module name starts with ``prefix`` ("wheat_" or "chaff_")."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith(prefix):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(
                Implementation(
                    name=info.name.removeprefix(prefix),
                    module=module.__name__,
                    runs=getattr(module, "RUNS", 0),
                    hint=getattr(module, "HINT", ""),
                    about=_first_paragraph(module.__doc__).partition(": ")[2],
                )
            )
    return found


def _first_paragraph(docstring: str) -> str:
    return " ".join(docstring.split("\n\n")[0].split())


def wheats() -> list[Implementation]:
    return implementations("wheat_")


def chaffs() -> list[Implementation]:
    return implementations("chaff_")


def graded_chaffs() -> int:
    """How many chaffs a graded run looks for: those here, or, where none
    ship (the student tree), the number the handout wrote down."""
    if found := chaffs():
        return len(found)
    return int(GRADED_CHAFFS.read_text(encoding="utf-8"))
