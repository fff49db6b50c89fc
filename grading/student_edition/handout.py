"""``python -m grading handout OUT``: build the student tree from this one.

Theory of operation
-------------------
The instructor tree holds the reference solutions. The student tree is the
same kit, cut by regions: a line ``# BEGIN TAG`` (or ``.. BEGIN TAG`` inside
a docstring, or ``<!-- BEGIN TAG -->`` in Markdown) opens a region and the
matching ``END`` line closes it. The marker lines never ship; what is
between them ships or not by its tag:

* ``SOLUTION``: never. A region inside a function body leaves a stub
  behind, at the marker's indentation, that raises ``NotImplementedError``:
  the signature and the docstring above it stay, and they are the contract.
  A region at module or class level (helpers, private methods) leaves
  nothing.
* ``INSTRUCTOR``: never (the README's instructor parts, the pyproject's
  instructor-only packages and test folders).
* ``PARTC``: only when the grading settings turn partC on (``--settings
  FILE``, default grading/settings.toml); ``partC/`` itself and the files in
  ``PARTC_FILES`` ship only then too. ``NOPARTC``: only when they do not
  (the hand-in of two files rather than three, say).
* ``GRADING`` and ``HANDIN`` (HANDOUT.md's "How it is graded" and "How
  to hand in"): always, with the text the settings and the platform write
  (grading/student_edition/handout_text.py) in place of what the region holds.
* ``HINTS`` and ``DESIGN``: by the settings' hint level (``[handout]
  hints``): ``contract`` ships neither, ``hints`` ships HINTS, ``design``
  ships both. HANDOUT.md's hints are a HINTS region; the reference's theory
  of operation in partA/server.py is a DESIGN region.

Instructor-only folders (``grading/``, ``benchmarks/``, the CI script) are
never copied, but for partB's judge and its wheats (the correct squarers),
so that students can check their tests as the grader does (``python -m
grading.squarer_tests``); the chaffs stay behind, and the tree holds only
how many there are (``grading/squarers/graded_chaffs.txt``). The cut Python
files are formatted with ruff, so that an untouched stub keeps the format
point; without ruff, nothing is written.

A marker that is unpaired, nested, inside a region or of an unknown tag is an
error that names the file and the line, and nothing is written.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grading.settings import Settings

from grading import squarer_tests, squarers

ROOT = Path(__file__).resolve().parents[2]
# In the student tree, the count of chaffs (which do not ship): see squarers.
GRADED_CHAFFS = squarers.GRADED_CHAFFS.relative_to(ROOT).as_posix()
SHIPPED = [
    "README.md",
    "HANDOUT.md",
    "pyproject.toml",
    ".gitignore",
    "conftest.py",
    "partA",
    "partB",
    "runners",
]
PARTC_FILES = ["partC", "runners/test_runners_partc.py"]  # ship with partC only
SQUARERS = "grading/squarers"  # of which the __init__ and the wheats ship
# Shipped with HANDOUT.md's hints only:
HINTS_FILES = ["docs/failure-picture.png", "docs/hang-picture.png"]
BINARY = {".png"}  # copied as they are
LEFT_OUT = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
STUB = 'raise NotImplementedError("{where}: your code here")'
TAGS = (
    "SOLUTION",
    "INSTRUCTOR",
    "PARTC",
    "NOPARTC",
    "HINTS",
    "DESIGN",
    "GRADING",
    "HANDIN",
)
# Regions whose text the settings write (handout_text.py, beside this one):
# always shipped, filled first.
FILLED = ("GRADING", "HANDIN")
MARKER = re.compile(r"\s*(?:#|\.\.|<!--) (BEGIN|END) ([A-Z]+)(?: -->)?\s*")
LEVELS = {"contract": set(), "hints": {"HINTS"}, "design": {"HINTS", "DESIGN"}}


class MarkerError(ValueError):
    """A region marker out of place; the message names file and line."""


class FormatError(RuntimeError):
    """ruff could not format the student tree; the message says how to fix it."""


def shipped_tags(*, partC: bool = False, hints: str = "hints") -> frozenset[str]:
    """The region tags whose contents ship, for these settings."""
    return frozenset(LEVELS[hints] | {"PARTC" if partC else "NOPARTC", *FILLED})


def cut_regions(text: str, name: str, keep: frozenset[str] = frozenset()) -> str:
    """Return ``text`` with every region cut out or stubbed, but those in ``keep``.

    The marker lines of a kept region are dropped and its lines stay.
    """
    out: list[str] = []
    region: tuple[str, int] | None = None  # the open region's tag and line
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        marker = MARKER.fullmatch(line)
        if marker is None:
            if region is None or region[0] in keep:
                out.append(line)
            continue
        which, tag = marker.groups()
        where = f"{name}:{number}: {which} {tag}"
        if tag not in TAGS:
            raise MarkerError(f"{where}: unknown region (known: {', '.join(TAGS)})")
        if which == "BEGIN":
            if region is not None:
                raise MarkerError(
                    f"{where} inside the {region[0]} region opened at line {region[1]}"
                )
            region = (tag, number)
            if tag == "SOLUTION" and _in_function(out, _indent(line)):
                out.append(_indent(line) + STUB.format(where=_function(out)) + "\n")
        elif region is None or region[0] != tag:
            raise MarkerError(f"{where} without a BEGIN {tag}")
        else:
            region = None
    if region is not None:
        raise MarkerError(f"{name}:{region[1]}: BEGIN {region[0]} never closed")
    return "".join(out)


def fill_regions(text: str, name: str, fills: dict[str, str]) -> str:
    """``text`` with each region of ``fills`` holding the text given for it.

    Each must be in ``text`` once; the markers stay (``cut_regions`` drops them).
    """
    for tag, fill in fills.items():
        region = re.compile(
            rf"(^<!-- BEGIN {tag} -->\n).*?(^<!-- END {tag} -->$)", re.S | re.M
        )
        text, found = region.subn(rf"\g<1>{_escaped(fill)}\g<2>", text)
        if found != 1:
            raise MarkerError(f"{name}: {found} {tag} regions, where one is filled")
    return text


def _escaped(text: str) -> str:
    """``text`` as a replacement that ``re.sub`` puts in as it is."""
    return text.replace("\\", "\\\\")


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


def build_handout(
    out: Path,
    source: Path = ROOT,
    *,
    partC: bool = False,
    hints: str = "hints",
    ruff_format: bool = True,
    settings: Settings | None = None,
    platform: str | None = None,
) -> list[Path]:
    """Write the student tree into ``out`` (which must not exist yet).

    ``partC``: ship partC too; ``hints``: the hint level (see ``LEVELS``);
    ``ruff_format``: format the cut files with ruff (the grader's own pristine
    copy, which no student sees, skips it and so never needs ruff);
    ``settings`` (default: grading/settings.toml) and ``platform`` (default:
    theirs) write HANDOUT.md's GRADING and HANDIN regions.
    Returns the files written. Raises ``MarkerError`` if a marker is out of
    place, ``FormatError`` if ruff cannot format the stubs, and
    ``FileExistsError`` if ``out`` exists; in each case nothing is written.
    """
    if out.exists():
        raise FileExistsError(f"{out} exists already: name a new folder")
    fills = settings_sections(settings, platform, partC)
    keep = shipped_tags(partC=partC, hints=hints)
    files: dict[Path, str | bytes] = {}
    items = SHIPPED + (PARTC_FILES if partC else []) + _judge_files(source)
    items += HINTS_FILES if "HINTS" in keep else []
    for item in items:
        paths = [source / item] if (source / item).is_file() else _tree(source / item)
        for path in paths:
            relative = path.relative_to(source)
            if not partC and any(relative.match(f) for f in PARTC_FILES):
                continue
            if path.suffix in BINARY:
                files[relative] = path.read_bytes()
                continue
            text = path.read_text(encoding="utf-8")
            if relative == Path("HANDOUT.md"):
                text = fill_regions(text, str(relative), fills)
            files[relative] = cut_regions(text, str(relative), keep)
    files[Path(GRADED_CHAFFS)] = f"{len(squarers.chaffs())}\n"
    with tempfile.TemporaryDirectory(prefix="handout-") as folder:
        draft = Path(folder) / "tree"
        for relative, content in files.items():
            (draft / relative).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                (draft / relative).write_bytes(content)
            else:
                (draft / relative).write_text(content, encoding="utf-8")
        if ruff_format:
            format_files(sorted(draft / r for r in files if r.suffix == ".py"))
        shutil.copytree(draft, out)
    return sorted(out / relative for relative in files)


def _judge_files(source: Path) -> list[str]:
    """partB's judge and the wheats, which ship so that students can check."""
    wheats = sorted((source / SQUARERS).glob("wheat_*.py"))
    judge = [name for name in squarer_tests.FILES if name.startswith("grading/")]
    return (
        judge
        + [f"{SQUARERS}/__init__.py"]
        + [str(path.relative_to(source)) for path in wheats]
    )


def settings_sections(
    settings: Settings | None, platform: str | None, partC: bool
) -> dict[str, str]:
    """HANDOUT.md's regions that the settings write, by tag."""
    from grading.student_edition import handout_text
    from grading.settings import load_settings

    settings = settings or load_settings()
    platform = platform or settings.handout.platform
    return {
        "GRADING": handout_text.grading_section(settings, platform, partC),
        "HANDIN": handout_text.handin_section(platform, partC),
    }


def format_files(paths: list[Path]) -> None:
    """Format the cut files as ruff would, so untouched stubs keep the format point.

    Cutting a region can leave blank lines where ruff wants none. Raises
    ``FormatError`` if ruff is missing or fails: a handout whose stubs lose
    the format point untouched is no handout.
    """
    command = [sys.executable, "-m", "ruff", "format", "--quiet", "--no-cache"]
    try:
        subprocess.run(
            command + [str(path) for path in paths],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.CalledProcessError as error:
        raise FormatError(
            f"ruff format failed on the stubs:\n{error.stdout}{error.stderr}"
        ) from None
    except (OSError, subprocess.SubprocessError) as error:
        raise FormatError(f"could not run ruff format ({error})") from None


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
    from grading.settings import PLATFORMS, add_option

    add_option(
        parser,
        help="a settings file: partC ships if it enables partC, and its "
        "[handout] hints sets how much design the stub shows "
        "(default: grading/settings.toml); a bad one is refused, with its key, "
        "file and line",
    )
    parser.add_argument(
        "--hints",
        choices=list(LEVELS),
        help="the hint level, instead of the settings' [handout] hints",
    )
    parser.add_argument(
        "--platform",
        choices=list(PLATFORMS),
        help="where students hand in (HANDOUT.md's hand-in and the grader's "
        "Python), instead of the settings' [handout] platform",
    )
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from grading.settings import load_for

    settings = load_for("handout", args.settings)
    if settings is None:
        return 2
    try:
        hints = args.hints or settings.handout.hints
        platform = args.platform or settings.handout.platform
        written = build_handout(
            args.out,
            partC=settings.partC.enabled,
            hints=hints,
            settings=settings,
            platform=platform,
        )
    except FormatError as error:
        print(
            f"handout: {error}\nNothing was written. Install ruff "
            f"(python -m pip install ruff, or the kit's test extra: "
            f'python -m pip install -e ".[test]") and build the handout again.',
            file=sys.stderr,
        )
        return 1
    except (MarkerError, FileExistsError, ValueError) as error:
        print(f"handout: {error}", file=sys.stderr)
        return 1
    partC = "with partC" if settings.partC.enabled else "without partC"
    print(
        f"handout: wrote {len(written)} files to {args.out} ({partC}, "
        f"hints={hints}, hand-in on {platform})"
    )
    return 0
