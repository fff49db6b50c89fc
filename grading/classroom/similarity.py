"""Submissions that look alike: pairs of a class's partA/server.py (and of
its partB/test_squarer.py) that share more code than chance explains.

Theory of operation
-------------------
The comparing is copydetect's (MOSS's winnowing, by Stanford's Aiken et
al.): Pygments reads each file into tokens, every name becomes ``V`` or
``F`` and every string ``S`` (so renaming changes nothing), runs of
``NOISE`` tokens are hashed, and winnowing keeps a few hashes of each window
so that any shared run of ``GUARANTEE`` tokens is found. A file's hashes are
a set: reordering its functions changes nothing either. What every student
got is not evidence: the stub (the file as ``build_handout`` writes it into
the student tree, at the settings' hint level) is fingerprinted too, and its
hashes are taken out of every submission's.

Two files' similarity is, for each, the share of its (non-stub) tokens that
the other has too; a pair is listed when the mean of the two shares reaches
``THRESHOLD``, the likeliest copies first, with the shared passages of both
files marked. The mean, not the larger share: a short file often has most
of its few lines in common with a long one (``Squarer()``, ``initialize``,
a ``get`` with a timeout), and a copy shares most of both files. Two short
files (a few tests each) can share half their code by chance, as they
follow the same starter: a pair must also share ``MIN_TOKENS`` tokens.

A listing is a reason to look, not a verdict: a student may have written
a little and copied the stub's example code, or two students may both
have followed the hints closely.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap
from markupsafe import Markup

from grading.submission.grade import SERVER, TESTS, SubmissionError, collect
from grading.student_edition.handout import build_handout
from grading.settings import Settings, load_settings

FILES = (SERVER, TESTS)
NOISE = 25  # tokens: a shared run shorter than this never counts (copydetect's k)
GUARANTEE = 25  # tokens: a shared run this long is always found
THRESHOLD = 0.5  # the mean of a pair's two shares that lists it
MIN_TOKENS = 200  # and the tokens they share (about ten lines): less is chance
CONTEXT = 3  # lines shown around each shared passage


@dataclass(frozen=True)
class Pair:
    """Two students whose ``file`` look alike."""

    file: str
    first: str
    second: str
    shares: tuple[float, float]  # of each one's tokens, found in the other's
    tokens: int  # tokens the two share
    passages: tuple[Markup, Markup]  # each one's file, shared passages in <mark>

    @property
    def score(self) -> float:
        return sum(self.shares) / 2


def similar_pairs(
    submissions: Mapping[str, Path],
    settings: Path | None = None,
    threshold: float = THRESHOLD,
) -> list[Pair]:
    """The pairs of ``submissions`` (student: folder or zip) alike in any of
    FILES, the likeliest copies first; ``settings``: the settings file."""
    loaded = load_settings(settings)
    stubs = stub_files(loaded)
    pairs = []
    for name in FILES:
        texts = {
            student: read(path, name, loaded) for student, path in submissions.items()
        }
        found = {student: text for student, text in texts.items() if text}
        pairs += compare(found, stubs.get(name, ""), name, threshold)
    return sorted(pairs, key=lambda pair: (-pair.score, pair.file, pair.first))


def compare(
    texts: Mapping[str, str],
    stub: str,
    name: str,
    threshold: float = THRESHOLD,
    min_tokens: int = MIN_TOKENS,
) -> list[Pair]:
    """Every pair of ``texts`` (student: the text of file ``name``) whose
    mean share reaches ``threshold`` and who share ``min_tokens`` tokens,
    with what ``stub`` holds left out."""
    boilerplate = np.unique(np.array(list(_fingerprint(stub, name).hashes)))
    prints = {
        student: _fingerprint(text, name, boilerplate)
        for student, text in texts.items()
    }
    pairs = []
    for first, second in itertools.combinations(sorted(prints), 2):
        if not _may_reach(prints[first].hashes, prints[second].hashes, threshold):
            continue
        tokens, shares, slices = compare_files(prints[first], prints[second])
        if not tokens or tokens < min_tokens or sum(shares) / 2 < threshold:
            continue
        passages = (
            _marked(prints[first].raw_code, slices[0]),
            _marked(prints[second].raw_code, slices[1]),
        )
        rounded = (round(float(shares[0]), 3), round(float(shares[1]), 3))
        pairs.append(Pair(name, first, second, rounded, int(tokens), passages))
    return pairs


def _may_reach(first: set[int], second: set[int], threshold: float) -> bool:
    """Might two files with these fingerprints have a mean share of
    ``threshold``? A quick screen that spares most pairs the full comparison:
    a mean share of t needs a share of t in one file at least, and so about
    as many of its fingerprints in the other's; half that is asked here."""
    smaller = min(len(first), len(second))
    return smaller > 0 and len(first & second) >= smaller * threshold / 2


def _fingerprint(text: str, name: str, boilerplate: object = None) -> CodeFingerprint:
    window = GUARANTEE - NOISE + 1
    return CodeFingerprint(
        name,
        NOISE,
        window,
        boilerplate=boilerplate,
        language="python",
        fp=io.StringIO(text),
    )


def _marked(code: str, slices: np.ndarray) -> Markup:
    text, _ = highlight_overlap(
        code, slices, "<mark>", "</mark>", truncate=CONTEXT, escape_html=True
    )
    return Markup(text)


def read(submission: Path, name: str, settings: Settings) -> str:
    """The text of file ``name`` in a submission, found as the grader finds
    it; "" if it has none or cannot be read."""
    try:
        files, _ = collect(submission, settings)
    except (SubmissionError, OSError):
        return ""
    content = files.get(name)
    return content.decode("utf-8", errors="replace") if content else ""


def stub_files(settings: Settings) -> dict[str, str]:
    """FILES as the student tree holds them: what every student started from."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "student"
        build_handout(
            tree,
            partC=settings.partC.enabled,
            hints=settings.handout.hints,
            settings=settings,
        )
        return {
            name: (tree / name).read_text(encoding="utf-8")
            for name in FILES
            if (tree / name).is_file()
        }


def groups(pairs: list[Pair]) -> list[tuple[str, list[str]]]:
    """The students linked by ``pairs``, file by file: (file, students) for
    each set of two or more joined by a chain of pairs, the largest first."""
    found = []
    for name in FILES:
        owner: dict[str, str] = {}  # each student's set, named by one of them
        for pair in (pair for pair in pairs if pair.file == name):
            owner[_top(owner, pair.first)] = _top(owner, pair.second)
        sets: dict[str, list[str]] = {}
        for student in sorted(owner):
            sets.setdefault(_top(owner, student), []).append(student)
        found += [(name, members) for members in sets.values()]
    return sorted(found, key=lambda group: (-len(group[1]), group))


def _top(owner: dict[str, str], student: str) -> str:
    """The student that names ``student``'s set (union-find's find)."""
    while owner.setdefault(student, student) != student:
        student = owner[student]
    return student
