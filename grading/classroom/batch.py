"""``python -m grading batch FOLDER``: grade a whole class, in parallel.

Theory of operation
-------------------
FOLDER holds one entry per student: a folder or a zip, named after the
student (``alice/``, ``bob.zip``). Each is graded by ``grade_submission``
in a child process of its own (``python -m grading.classroom.batch SUBMISSION
RESULTS``), and ``-j N`` threads each wait for one child at a time. So a
submission that hangs or crashes, or even a grader that does, costs only
that student's time: ``grade_submission`` bounds each run itself, and a wall
clock here (``--timeout``) kills the child's process group if it still does
not end. Whatever happens, every student gets a ``results.json``: the
grader's, or one that says why there is none.

Into the output folder (``FOLDER-results`` unless ``--out`` says otherwise):
``<student>/results.json``, ``<student>/grader.log`` (the child's output:
the grade table and what only the staff see) and ``<student>/feedback.txt``
(what the student sees, to send), ``grades.csv`` (one row a student, a
column a test; ``--csv`` puts it elsewhere), ``canvas.csv`` and
``moodle.csv`` for the LMS's grade import when ``--roster`` maps the
submissions to student IDs (grading/classroom/class_outputs.py), and ``summary.txt``,
also printed at the end: a histogram of the totals and the tests most
students failed; and ``report.html`` beside the CSV, the class to look at
(``grading/classroom/report_html.py``), where the instructor's extra is installed
(``pip install -e ".[grading]"``).

A re-grade re-runs only what changed: beside each ``results.json``,
``digest.json`` keeps the digest it was graded under (the submission's
files, the settings the grader reads and the kit's code). A submission whose
digest is the same again keeps its results (``--fresh`` re-grades all).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, TextIO

from grading.classroom import class_outputs
from grading.classroom.class_outputs import class_stats
from grading.classroom.results import (
    Outcome,
    outcome_of,
    read_results,
    status_of,
)
from grading.settings import add_option as settings_option
from grading.settings import load_for, load_settings

KIT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 1200.0  # seconds: a backstop only; grade_submission is quicker


# Finding the submissions.


def find_submissions(folder: Path, skip: Iterable[Path] = ()) -> dict[str, Path]:
    """Each student's name and submission (a folder or a zip) in ``folder``.

    Hidden entries, other files and the folders in ``skip`` are left out. A
    name taken twice (``alice/`` and ``alice.zip``) keeps its suffix.
    """
    skipped = {path.resolve() for path in skip}
    entries = [
        entry
        for entry in sorted(folder.iterdir())
        if not entry.name.startswith((".", "_"))
        and entry.resolve() not in skipped
        and (entry.is_dir() or entry.suffix.lower() == ".zip")
    ]
    stems = Counter(_student(entry) for entry in entries)
    return {
        _student(entry) if stems[_student(entry)] == 1 else entry.name: entry
        for entry in entries
    }


def _student(entry: Path) -> str:
    return entry.stem if entry.suffix.lower() == ".zip" else entry.name


# Grading them.


def grade_all(
    submissions: dict[str, Path],
    out: Path,
    *,
    jobs: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
    stream: TextIO | None = None,
    settings: Path | None = None,
    fresh: bool = False,
) -> list[Outcome]:
    """Grade every submission, ``jobs`` at a time; outcomes sorted by student.

    A submission graded before under the same digest keeps its results
    (unless ``fresh``). ``stream``: where progress goes (None: nowhere);
    ``settings``: a settings file instead of grading/settings.toml.
    """
    key = grading_digest(settings)
    digests = {
        student: submission_digest(path, key) for student, path in submissions.items()
    }
    outcomes = [] if fresh else _reusable(submissions, out, digests)
    todo = [
        student
        for student in submissions
        if student not in {o.student for o in outcomes}
    ]
    progress = Progress(len(todo), stream, reused=len(outcomes)) if stream else None
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(
                grade_one,
                student,
                submissions[student],
                out / _safe(student),
                timeout,
                settings,
                digests[student],
                keep_parts=not fresh,
            )
            for student in todo
        ]
        for future in as_completed(futures):
            outcomes.append(future.result())
            if progress:
                progress.advance(outcomes[-1])
    if progress:
        progress.finish()
    return sorted(outcomes, key=lambda outcome: outcome.student)


def _safe(student: str) -> str:
    """A folder name for ``student`` that stays inside the output folder."""
    return student.replace(os.sep, "_").replace("/", "_").lstrip(".") or "_"


def grade_one(
    student: str,
    submission: Path,
    folder: Path,
    timeout: float,
    settings: Path | None = None,
    digest: str = "",
    keep_parts: bool = True,
) -> Outcome:
    """Grade one submission in a child process; never raises, never hangs.

    ``digest``: what it is graded under, kept beside its results when the
    grader finished (graded or refused) so that a re-run can reuse them.
    ``keep_parts``: the parts of an earlier grading in ``folder`` that
    nothing has changed for are kept (grading/submission/reuse.py), not graded again.
    """
    started = time.monotonic()
    earlier = folder.with_name(folder.name + ".earlier")
    shutil.rmtree(earlier, ignore_errors=True)
    if keep_parts and (folder / "results.json").is_file():
        folder.rename(earlier)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    results = folder / "results.json"
    command = [
        sys.executable,
        "-m",
        "grading.classroom.batch",
        str(submission),
        str(results),
    ]
    command += [str(settings.resolve())] if settings else [""]
    command += [str(earlier / "results.json")] if earlier.is_dir() else []
    with open(folder / "grader.log", "wb") as log:
        returncode = _run_bounded(command, log, timeout)
    shutil.rmtree(earlier, ignore_errors=True)
    seconds = time.monotonic() - started
    report = read_results(results)
    if report is None:
        status = _why_no_results(returncode, timeout)
        report = _fallback_results(status, folder / "grader.log", seconds)
        results.write_text(json.dumps(report, indent=2))
    else:
        status = status_of(report)
    if digest and status in FINISHED:
        kept = {"digest": digest, "seconds": round(seconds, 2)}
        (folder / DIGEST_FILE).write_text(json.dumps(kept) + "\n")
    return outcome_of(student, report, seconds, status, results)


def _run_bounded(command: list[str], log: IO[bytes], timeout: float) -> int | None:
    """Run ``command`` in its own process group; None if killed at ``timeout``."""
    child = subprocess.Popen(
        command,
        cwd=KIT_ROOT,
        env=os.environ | {"PYTHONPATH": str(KIT_ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        returncode: int | None = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        returncode = None
    with contextlib.suppress(ProcessLookupError):  # all of them ended already
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    return returncode


def _why_no_results(returncode: int | None, timeout: float) -> str:
    if returncode is None:
        return f"timed out: the grader took longer than {timeout:g} s"
    if returncode < 0:
        return f"grader crashed: killed by {signal.Signals(-returncode).name}"
    return f"grader crashed: exit status {returncode}, no results"


def _fallback_results(status: str, log: Path, seconds: float) -> dict:
    """A Gradescope results.json for a submission the grader could not finish."""
    tail = log.read_bytes()[-3000:].decode(errors="replace") if log.exists() else ""
    return {
        "score": 0,
        "execution_time": round(seconds, 2),
        "output": f"Not graded ({status}). The grader's last words:\n{tail}",
        "tests": [],
    }


# Re-grading only what changed.

FINISHED = ("graded", "refused")  # what the grader decided: worth keeping
DIGEST_FILE = "digest.json"  # beside results.json: what it was graded under
# The kit's files that grade a submission: the suites, the stubs the pristine
# kit is built from, the wheats and chaffs, and the grader itself.
KIT_CODE = ("conftest.py", "pyproject.toml", "partA", "partB", "partC", "grading")


def grading_digest(settings: Path | None = None) -> str:
    """A digest of how submissions are graded: the settings and the kit's code.

    The settings count as the grader reads them (a comment changes nothing),
    all but ``[handout]``, which only ``handout`` reads.
    """
    read = dataclasses.asdict(load_settings(settings))
    read.pop("handout", None)
    digest = hashlib.sha256(json.dumps(read, sort_keys=True).encode())
    for path in _kit_files():
        digest.update(path.relative_to(KIT_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _kit_files() -> list[Path]:
    found = []
    for item in KIT_CODE:
        path = KIT_ROOT / item
        found += [path] if path.is_file() else sorted(path.rglob("*"))
    return [
        path
        for path in found
        if path.is_file()
        and path.suffix in (".py", ".toml")
        and "__pycache__" not in path.parts
        and not _not_grading(path)
    ]


def _not_grading(path: Path) -> bool:
    """The grader's own tests, its proof set and what only shows the grades:
    a change to them changes no grade."""
    relative = path.relative_to(KIT_ROOT).as_posix()
    return any(relative == p or relative.startswith(f"{p}/") for p in NOT_GRADING)


NOT_GRADING = (
    "grading/tests",
    "grading/proof",
    "grading/classroom/report_html.py",
    "grading/classroom/similarity.py",
    "grading/classroom/templates",
)


def submission_digest(submission: Path, key: str = "") -> str:
    """A digest of a submission's files (names and bytes; links as links), and
    ``key``: how it is graded (``grading_digest``)."""
    digest = hashlib.sha256(key.encode() + b"\0")
    for path in _files_in(submission):
        name = path.relative_to(submission).as_posix() if submission.is_dir() else ""
        digest.update(name.encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _files_in(submission: Path) -> list[Path]:
    """A zip itself, or every entry under a folder (links not followed)."""
    if not submission.is_dir():
        return [submission]
    found = []
    for top, folders, files in os.walk(submission):
        folders.sort()
        found += [Path(top, name) for name in sorted(files + folders)]
    return found


def _reusable(
    submissions: dict[str, Path], out: Path, digests: dict[str, str]
) -> list[Outcome]:
    """The outcomes of the submissions graded before under the same digest."""
    kept = []
    for student in submissions:
        folder = out / _safe(student)
        before = read_results(folder / DIGEST_FILE)
        report = read_results(folder / "results.json")
        if before is None or report is None or before.get("digest") != digests[student]:
            continue
        seconds = float(before.get("seconds") or 0)
        outcome = outcome_of(
            student, report, seconds, status_of(report), folder / "results.json"
        )
        kept.append(dataclasses.replace(outcome, reused=True))
    return kept


# Showing progress.


class Progress:
    """How the grading goes: on a terminal, a bar (tqdm's) with the time left
    and the slowest submission so far; elsewhere, a line a submission."""

    def __init__(self, total: int, stream: TextIO | None = None, reused: int = 0):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.slowest: Outcome | None = None
        if reused:
            self.stream.write(
                f"reused {reused} results graded before (nothing they depend on "
                f"changed); grading {total}\n"
            )
        self.bar = _bar(total, self.stream) if self.stream.isatty() else None

    def advance(self, outcome: Outcome) -> None:
        self.done += 1
        if self.slowest is None or outcome.seconds > self.slowest.seconds:
            self.slowest = outcome
        what = f"{outcome.student}: {_points(outcome)}"
        if self.bar is None:
            width = len(str(self.total))
            self.stream.write(
                f"[{self.done:{width}}/{self.total}] {what} ({outcome.seconds:.1f} s)\n"
            )
            self.stream.flush()
            return
        slowest = f"{self.slowest.student} {_clock(self.slowest.seconds)}"
        self.bar.set_postfix_str(f"slowest: {slowest}, last: {what[:30]}", False)
        self.bar.update()

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _bar(total: int, stream: TextIO):
    """tqdm's bar on ``stream``, or None without tqdm (then: a line each)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total,
        file=stream,
        unit="submission",
        bar_format="{n_fmt}/{total_fmt} |{bar}| {elapsed} elapsed, "
        "~{remaining} left{postfix}",
        dynamic_ncols=True,
    )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02}"


def _points(outcome: Outcome) -> str:
    if outcome.status != "graded":
        return outcome.status.split(":")[0].upper()
    return f"{outcome.score:g}/{outcome.max_score:g}"


# Writing it down.


def write_csv(
    outcomes: Sequence[Outcome], path: Path, roster: dict[str, dict] | None = None
) -> None:
    """grades.csv: one row a student (grading/classroom/class_outputs.py)."""
    class_outputs.write_grades(outcomes, path, roster)


def summary(outcomes: Sequence[Outcome], wall: float, jobs: int, top: int = 10) -> str:
    """A histogram of the totals, the commonest failures, and who was not graded."""
    reused = sum(outcome.reused for outcome in outcomes)
    again = f"; {reused} reused from an earlier run" if reused else ""
    partly = [o for o in outcomes if o.kept and not o.reused]
    if partly:
        kept = sorted({part for outcome in partly for part in outcome.kept})
        again += (
            f"; {len(partly)} re-graded in part, keeping what had not changed "
            f"({', '.join(kept)})"
        )
    lines = [
        f"Graded {len(outcomes)} submissions in {_clock(wall)} "
        f"({wall:.1f} s wall, {jobs} at a time{again})."
    ]
    if outcomes:
        lines += ["", *_histogram(outcomes), "", *_common_failures(outcomes, top)]
    lines += _refused(outcomes) + _not_graded(outcomes)
    return "\n".join(lines)


def _histogram(outcomes: Sequence[Outcome], width: int = 40) -> list[str]:
    """The totals of the graded submissions (``class_stats``), as bars."""
    graded = [outcome for outcome in outcomes if outcome.status == "graded"]
    stats = class_stats(outcomes)
    if not graded:
        return [stats.line()]
    top = max(int(stats.max_score), *(int(outcome.score) for outcome in graded))
    counts = Counter(int(outcome.score) for outcome in graded)
    most = max(counts.values())
    lines = [stats.line()]
    for score in range(top, -1, -1):
        bar = _BLOCK * max(1 if counts[score] else 0, width * counts[score] // most)
        lines.append(f"  {score:>3} | {bar} {counts[score] or ''}".rstrip())
    return lines


def _block() -> str:
    """A full block where the terminal can show one, else '#'."""
    try:
        "\u2588".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "#"
    return "\u2588"


_BLOCK = _block()


def _common_failures(outcomes: Sequence[Outcome], top: int) -> list[str]:
    graded = [outcome for outcome in outcomes if outcome.status == "graded"]
    counts = Counter(test for outcome in graded for test in outcome.failed)
    if not counts:
        return ["Most common failures: none, every graded test passed."]
    lines = [f"Most common failures (students, of {len(graded)} graded):"]
    width = len(str(max(counts.values())))
    for test, count in counts.most_common(top):
        lines.append(f"  {count:>{width}}  {test}")
    if len(counts) > top:
        lines.append(f"  ... and {len(counts) - top} more tests")
    return lines


def _refused(outcomes: Sequence[Outcome]) -> list[str]:
    refused = [outcome for outcome in outcomes if outcome.status == "refused"]
    if not refused:
        return []
    lines = ["", f"Refused ({len(refused)}; nothing in them could be graded):"]
    return lines + [f"  {outcome.student}: {outcome.reason}" for outcome in refused]


def _not_graded(outcomes: Sequence[Outcome]) -> list[str]:
    missed = [o for o in outcomes if o.status not in ("graded", "refused")]
    if not missed:
        return []
    lines = ["", f"Not graded ({len(missed)}; see each one's grader.log):"]
    lines += [f"  {outcome.student}: {outcome.status}" for outcome in missed]
    return lines


# The command line.


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``batch`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "batch",
        help="grade every submission in a folder, in parallel",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "folder", type=Path, help="one folder or zip per student, named after them"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=2, help="submissions at once (default: 2)"
    )
    parser.add_argument(
        "--csv", type=Path, help="the grades' CSV (default: OUT/grades.csv)"
    )
    parser.add_argument(
        "--out", type=Path, help="where results go (default: FOLDER-results)"
    )
    settings_option(parser)
    parser.add_argument(
        "--roster",
        type=Path,
        help="a CSV mapping each submission's name (column folder) to the "
        "student's LMS ID (column id; also name, email, sis_user_id, "
        "sis_login_id, section): grades.csv gets the IDs, and canvas.csv and "
        "moodle.csv are written for the LMS's grade import",
    )
    parser.add_argument(
        "--assignment",
        default="P0",
        help="the assignment's column in canvas.csv and moodle.csv (default: "
        "%(default)s; for an assignment Canvas has, its name and id: 'P0 (1234)')",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds before one submission's grader is killed "
        f"(default: {DEFAULT_TIMEOUT:g}; a backstop, the grader bounds itself)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="re-grade every submission, even those graded before under the "
        "same files, settings and kit",
    )
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Run the verb: exit status 0 if the grader finished every submission
    (graded, or refused for what it holds), else 1."""
    if not args.folder.is_dir():
        print(f"batch: no such folder: {args.folder}", file=sys.stderr)
        return 2
    # a bad settings file is one error now, not one per student later
    if load_for("batch", args.settings) is None:
        return 2
    try:
        roster = class_outputs.read_roster(args.roster) if args.roster else None
    except class_outputs.RosterError as error:
        print(f"batch: {error}", file=sys.stderr)
        return 2
    out = args.out or args.folder.with_name(f"{args.folder.resolve().name}-results")
    submissions = find_submissions(args.folder, skip=[out])
    if not submissions:
        print(f"batch: no submissions (folders or zips) in {args.folder}")
        return 2
    print(f"batch: {len(submissions)} submissions, {args.jobs} at a time -> {out}")
    started = time.monotonic()
    outcomes = grade_all(
        submissions,
        out,
        jobs=args.jobs,
        timeout=args.timeout,
        stream=sys.stderr,
        settings=args.settings,
        fresh=args.fresh,
    )
    wall = time.monotonic() - started
    text = summary(outcomes, wall, args.jobs)
    csv_path = args.csv or out / "grades.csv"
    write_csv(outcomes, csv_path, roster)
    class_outputs.write_feedback(outcomes)
    (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(f"\n{text}\n\nGrades: {csv_path}\nResults: {out}/<student>/results.json")
    print(f"Feedback to send: {out}/<student>/feedback.txt")
    print(_lms_files(outcomes, out, roster, args.assignment))
    print(write_report(outcomes, csv_path.with_name("report.html"), submissions, args))
    return 0 if all(outcome.status in FINISHED for outcome in outcomes) else 1


def _lms_files(
    outcomes: Sequence[Outcome], out: Path, roster: dict | None, assignment: str
) -> str:
    """Write canvas.csv and moodle.csv (with a roster); say what was written."""
    if roster is None:
        return "Canvas and Moodle imports: not written (they need --roster)."
    class_outputs.write_canvas(outcomes, out / "canvas.csv", roster, assignment)
    class_outputs.write_moodle(outcomes, out / "moodle.csv", roster, assignment)
    said = f"Canvas import: {out / 'canvas.csv'}\nMoodle import: {out / 'moodle.csv'}"
    if missing := class_outputs.unlisted(outcomes, roster):
        said += f"\nNot in the roster, so in neither: {', '.join(missing)}"
    handed_in = {outcome.student for outcome in outcomes}
    if absent := [student for student in roster if student not in handed_in]:
        said += f"\nIn the roster, with no submission: {', '.join(absent)}"
    return said


def write_report(
    outcomes: Sequence[Outcome],
    path: Path,
    submissions: dict[str, Path],
    args: argparse.Namespace,
) -> str:
    """Write report.html; say where, and how long it took, or why not."""
    try:
        from grading.classroom import report_html
    except ImportError as error:
        return (
            f"Report: not written ({error.name} is missing). It needs the "
            'instructor\'s extra: python -m pip install -e ".[grading]"'
        )
    started = time.monotonic()
    try:  # the grades are written already: a report that fails costs only itself
        report_html.write_report(
            outcomes, path, submissions, settings=args.settings, jobs=args.jobs
        )
    except Exception:
        traceback.print_exc()
        return "Report: not written: it failed (above). The grades are all there."
    return f"Report: {path} (made in {time.monotonic() - started:.1f} s)"


# The child process that grades one submission.


def _grade_in_child(argv: Sequence[str]) -> int:
    """``python -m grading.classroom.batch SUBMISSION RESULTS [SETTINGS
    [EARLIER]]``: grade (keeping what it can of EARLIER's results), write.
    SETTINGS "" is the default settings."""
    from grading.submission.grade import grade_submission, write_results
    from grading.submission.report import table

    submission, results, settings, earlier = [*argv, "", ""][:4]
    try:
        report = grade_submission(
            Path(submission),
            load_settings(settings or None),
            Path(earlier) if earlier else None,
        )
    except Exception:
        traceback.print_exc()
        return 1
    write_results(report, results)
    print(table(report))  # grader.log: for the staff, beside results.json
    if report.staff_output:
        print(f"\n{report.staff_output}")
    return 0


if __name__ == "__main__":
    sys.exit(_grade_in_child(sys.argv[1:]))
