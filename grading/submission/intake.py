"""The student's files: found in a folder or a zip, read safely, checked.

``collect(submission, settings)`` returns the files to grade (None for each
one missing) and notes on how each was found. A submission is a folder or a
zip holding ``partA/server.py`` and ``partB/test_squarer.py`` (also found at
the top, or one folder down), and ``partC/server.py`` when the settings turn
partC on. Only those files are read from it, each capped in size; a zip with
a name that climbs out of its folder, an absolute name or a symbolic link is
refused as a whole (``SubmissionError``).
"""

from __future__ import annotations

import ast
import os
import stat
import sys
import threading
import zipfile
from pathlib import Path, PurePosixPath

from grading.settings import Settings

SERVER, TESTS = "partA/server.py", "partB/test_squarer.py"
PARTC_SERVER = "partC/server.py"
MAX_MEMBERS = 10_000  # entries in a zip, or files in a folder, looked at


class SubmissionError(ValueError):
    """A submission that cannot be graded at all; the message says why."""


# CPython 3.11's ast.parse is not safe in two threads at once (it can raise
# "SystemError: AST constructor recursion depth mismatch"), and partA and
# partB are graded in two threads: they take turns to parse.
_PARSING = threading.Lock()


def parse(source: bytes | str, name: str) -> ast.Module:
    """``ast.parse``, one thread at a time."""
    with _PARSING:
        return ast.parse(source, filename=name)


def collect(
    submission: Path, settings: Settings
) -> tuple[dict[str, bytes | None], list[str]]:
    """The files to grade of ``submission`` (None if missing), and notes on them.

    Raises ``SubmissionError`` if the submission cannot be read at all, or
    is a zip with a name that climbs out of its folder or a link.
    """
    cap = settings.sandbox.submission_kib * 1024
    wanted = (SERVER, TESTS, *([PARTC_SERVER] if settings.partC.enabled else []))
    if submission.is_dir():
        members = _folder_members(submission)
        read = _reader_of_folder(submission, cap)
        return _pick(members, read, wanted)
    if zipfile.is_zipfile(submission):
        with zipfile.ZipFile(submission) as archive:
            members = _zip_members(archive, settings.sandbox.zip_mib * 1024 * 1024)
            return _pick(members, _reader_of_zip(archive, cap), wanted)
    if submission.exists():
        raise SubmissionError(f"{submission.name} is neither a folder nor a zip file")
    raise SubmissionError(f"{submission} does not exist")


def _pick(
    members: list[str], read, names: tuple[str, ...]
) -> tuple[dict[str, bytes | None], list[str]]:
    files: dict[str, bytes | None] = {}
    notes: list[str] = []
    for wanted in names:
        # partC/server.py alone would be taken for partA's: never look for it bare
        found = _find(members, wanted, bare=wanted != PARTC_SERVER)
        if found is None:
            notes.append(_missing(wanted, members))
            files[wanted] = None
            continue
        if found != wanted:
            notes.append(f"{wanted}: graded {found}")
        try:
            files[wanted] = read(found)
        except SubmissionError as error:
            notes.append(f"{wanted}: {error}")
            files[wanted] = None
    return files, notes


def _find(members: list[str], wanted: str, bare: bool = True) -> str | None:
    """Where ``wanted`` is: as is, one folder down, or bare (also one down)."""
    usable = [m for m in members if not any(_dotted(p) for p in m.split("/"))]
    name = PurePosixPath(wanted).name
    ways = [
        lambda m: m == wanted,
        lambda m: m.count("/") == 2 and m.split("/", 1)[1] == wanted,
    ]
    if bare:
        ways += [
            lambda m: m == name,
            lambda m: m.count("/") == 1 and m.split("/")[1] == name,
        ]
    for matches in ways:
        found = sorted(m for m in usable if matches(m))
        if found:
            return found[0]
    return None


def _dotted(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _missing(wanted: str, members: list[str]) -> str:
    shown = ", ".join(sorted(members)[:15]) or "nothing"
    more = f" and {len(members) - 15} more" if len(members) > 15 else ""
    alone = (
        "" if wanted == PARTC_SERVER else f", and {PurePosixPath(wanted).name} alone"
    )
    return (
        f"{wanted}: MISSING. Looked for {wanted} at the top of the submission, "
        f"one folder down{alone}; the submission holds: {shown}{more}"
    )


def _folder_members(folder: Path) -> list[str]:
    members = []
    for root, folders, names in os.walk(folder):  # links to folders: not followed
        folders[:] = sorted(folders)
        for name in names:
            members.append((Path(root) / name).relative_to(folder).as_posix())
            if len(members) > MAX_MEMBERS:
                raise SubmissionError(f"it holds over {MAX_MEMBERS} files")
    return members


def _reader_of_folder(folder: Path, cap: int):
    def read(member: str) -> bytes:
        path = folder / member
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
            raise SubmissionError(f"{member} is a link or not a regular file; not read")
        if path.lstat().st_size > cap:
            raise SubmissionError(f"{member} is over {cap // 1024} KiB; not read")
        return path.read_bytes()

    return read


def _zip_members(archive: zipfile.ZipFile, total_cap: int) -> list[str]:
    """The names of the zip's files, after checking every entry is safe."""
    entries = archive.infolist()
    if len(entries) > MAX_MEMBERS:
        raise SubmissionError(f"the zip holds over {MAX_MEMBERS} entries")
    for entry in entries:
        name = entry.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise SubmissionError(f"the zip holds an absolute name: {name!r}")
        if ".." in parts:
            raise SubmissionError(
                f"the zip holds a name that climbs out of its folder: {name!r}"
            )
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise SubmissionError(f"the zip holds a symbolic link: {name!r}")
    total = sum(entry.file_size for entry in entries)
    if total > total_cap:
        raise SubmissionError(
            f"the zip holds {total // 2**20} MiB uncompressed, over the limit "
            f"of {total_cap // 2**20} MiB"
        )
    return [e.filename.removeprefix("./") for e in entries if not e.is_dir()]


def _reader_of_zip(archive: zipfile.ZipFile, cap: int):
    def read(member: str) -> bytes:
        entry = next(
            e for e in archive.infolist() if e.filename.removeprefix("./") == member
        )
        if entry.file_size > cap:
            raise SubmissionError(f"{member} is over {cap // 1024} KiB; not read")
        with archive.open(entry) as source:
            content = source.read(cap + 1)
        if len(content) > cap:
            raise SubmissionError(f"{member} is over {cap // 1024} KiB; not read")
        return content

    return read


def syntax_error(content: bytes, name: str) -> str | None:
    """Why ``content`` does not compile on this Python, or None."""
    python = "Python {}.{}".format(*sys.version_info)
    try:
        parse(content, name)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "somewhere"
        return (
            f"{name} does not compile on the grader's {python}: {error.msg} at {where}"
        )
    except ValueError as error:  # e.g. a NUL byte
        return f"{name} does not compile on the grader's {python}: {error}"
    return None


def same_code(content: bytes | None, stub: bytes) -> bool:
    """Whether ``content`` is the ``stub`` as handed out: the same code, its
    layout, comments and docstrings aside (so that reformatting a stub, or
    the hint level's docstrings, do not make it the student's work)."""
    if content is None:
        return False
    try:
        return _code(content) == _code(stub)
    except (SyntaxError, ValueError):
        return False


def _code(source: bytes) -> str:
    tree = parse(source, "<stub>")
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            del body[0]
    return ast.dump(tree)


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
