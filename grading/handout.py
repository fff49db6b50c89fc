"""``python -m grading handout OUT``: build the student tree from this one.

Theory of operation
-------------------
The instructor tree holds the reference solutions. The student tree is the
same kit with three differences:

* Solution regions, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION``,
  are cut out. A region inside a function body leaves a stub behind, at the
  marker's indentation, that raises ``NotImplementedError``: the signature
  and the docstring above it stay, and they are the contract. A region at
  module or class level (helpers, private methods) leaves nothing.
* Instructor-only files stay out: ``grading/`` (broken servers, wheats and
  chaffs, these tools) and the CI script.
* ``pyproject.toml`` forgets the ``grading`` package and its tests, and
  ``README.md`` loses what is between ``<!-- BEGIN INSTRUCTOR -->`` and
  ``<!-- END INSTRUCTOR -->``.
* ``partC/`` ships (its server as stubs) only when the grading settings turn
  partC on (``--settings FILE``, default grading/settings.toml); otherwise
  the pyproject forgets it too.

A marker that is unpaired, nested, or inside a region is an error that names
the file and the line, and nothing is written.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
SHIPPED = [
    "README.md",
    "HANDOUT.md",
    "pyproject.toml",
    ".gitignore",
    "partA",
    "partB",
    "runners",
]
LEFT_OUT = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
STUB = 'raise NotImplementedError("{where}: your code here")'


class MarkerError(ValueError):
    """A solution marker out of place; the message names file and line."""


def strip_solutions(text: str, name: str) -> str:
    """Return ``text`` with every solution region cut out or stubbed."""
    out: list[str] = []
    begin: int | None = None  # the line number of the open region's BEGIN
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise MarkerError(
                    f"{name}:{number}: {BEGIN} inside the region opened at line {begin}"
                )
            begin = number
            if _in_function(out, _indent(line)):
                out.append(_indent(line) + STUB.format(where=_function(out)) + "\n")
        elif marker == END:
            if begin is None:
                raise MarkerError(f"{name}:{number}: {END} without a {BEGIN}")
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise MarkerError(f"{name}:{begin}: {BEGIN} never closed")
    return "".join(out)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _in_function(kept: list[str], indent: str) -> bool:
    """Is a line at ``indent``, after the lines ``kept``, in a function body?"""
    for line in reversed(kept):
        stripped = line.lstrip()
        # The first line less indented opens the block; ") -> int:" closes a
        # signature written over several lines, so look past it.
        if stripped and len(_indent(line)) < len(indent) and stripped[0] != ")":
            return stripped.startswith(("def ", "async def "))
    return False


def _function(kept: list[str]) -> str:
    """The name of the function whose body the kept lines end in."""
    for line in reversed(kept):
        if found := re.match(r"\s*(?:async )?def (\w+)", line):
            return found.group(1) + "()"
    return "this function"


def _student_readme(text: str) -> str:
    """The README without its instructor-only parts (between HTML comments)."""
    return re.sub(
        r"<!-- BEGIN INSTRUCTOR -->.*?<!-- END INSTRUCTOR -->\n?", "", text, flags=re.S
    )


def _student_pyproject(text: str, partC: bool) -> str:
    """The pyproject without the instructor-only ``grading`` package and
    ``benchmarks`` tests (the benchmark servers are working solutions).

    Without ``partC``, partC's package and tests are left out too.
    """
    text = text.replace(', "benchmarks"', "").replace(', "grading"]', "]")
    return text if partC else text.replace(', "partC"', "")


def build_handout(out: Path, source: Path = ROOT, *, partC: bool = False) -> list[Path]:
    """Write the student tree into ``out`` (which must not exist yet).

    ``partC``: ship partC too. Returns the files written. Raises
    ``MarkerError`` before writing anything if a marker is out of place, and
    ``FileExistsError`` if ``out`` exists.
    """
    files = {}
    for item in SHIPPED + (["partC"] if partC else []):
        paths = [source / item] if (source / item).is_file() else _tree(source / item)
        for path in paths:
            relative = path.relative_to(source)
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".py":
                text = strip_solutions(text, str(relative))
            elif relative.name == "pyproject.toml":
                text = _student_pyproject(text, partC)
            elif relative.name == "README.md":
                text = _student_readme(text)
            files[relative] = text
    out.mkdir(parents=True)
    for relative, text in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text, encoding="utf-8")
    written = sorted(out / relative for relative in files)
    _format([path for path in written if path.suffix == ".py"])
    return written


def _format(paths: list[Path]) -> None:
    """Format the cut files as ruff would, so untouched stubs keep the format point.

    Cutting a region can leave blank lines where ruff wants none. Without ruff
    (it comes with the kit's test extra) the files stay as cut.
    """
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "format",
                "--quiet",
                "--no-cache",
                *map(str, paths),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as error:
        print(f"handout: could not run ruff format ({error}); files left as cut")


def _tree(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not LEFT_OUT & set(path.relative_to(folder).parts)
        and path.suffix != ".pyc"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``handout`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "handout",
        help="build the student tree (solutions cut out, instructor files left out)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("out", type=Path, help="a folder that does not exist yet")
    parser.add_argument(
        "--settings",
        type=Path,
        help="a settings file; partC ships if it enables partC "
        "(default: grading/settings.toml)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from grading.settings import load_settings

    try:
        partC = load_settings(args.settings).partC.enabled
        written = build_handout(args.out, partC=partC)
    except (MarkerError, FileExistsError, ValueError) as error:
        print(f"handout: {error}")
        return 1
    print(f"handout: wrote {len(written)} files to {args.out}")
    return 0
