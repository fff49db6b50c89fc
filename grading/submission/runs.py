"""Sandboxed runs of the kit's suites, and what their events say.

Every judge that runs code (partA's and partC's suites, partB's judge) runs
it through ``sandbox.run`` (grading/submission/sandbox.py), from a folder of the grade's
work folder (``RUN_FOLDERS``) and seeing no other: ``hidden`` lists the
instructor tree and every folder that is not the run's own. A pytest run
writes its events as they happen (grading/submission/outcome_plugin.py) to a file that
outlives a hang or a crash, and ``verdicts`` reads them back.

A ``Job`` is one submission's grading: its work folder, its settings, the
notes for the student's report, and the grader's deadline, which caps every
run's wall clock so that the whole grade ends in time, partial scores and all,
even when each part takes its longest.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading.submission import sandbox
from grading.submission.report import TestResult
from grading.settings import Settings

KIT_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_CHARS = 4000  # of a run's output kept in the report
# The folders of the grade's work folder, each seen by the runs that need it.
RUN_FOLDERS = ("kit", "plugins", "partA-out", "partC-out", "partB-out", "partB-judge")
MARGIN = 10.0  # seconds kept, at the deadline, to read the results and write them


@dataclass
class Job:
    """One submission being graded."""

    work: Path
    settings: Settings
    deadline: float  # time.monotonic() by which every run has ended
    notes: list[str] = field(default_factory=list)  # for the student's report
    staff: list[str] = field(default_factory=list)  # raw output, for the staff only

    def seconds(self, wanted: float) -> float:
        """A run's wall clock: ``wanted``, or less if the deadline is nearer."""
        return max(min(wanted, self.deadline - time.monotonic() - MARGIN), 1.0)


def hidden(work: Path, *mine: str) -> list[Path]:
    """What a sandboxed run must not see: the instructor tree (here, and where
    Gradescope puts it), and every folder of ``work`` but ``mine``."""
    gradescope = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")) / "source"
    trees = [KIT_ROOT, gradescope]
    trees += [work / name for name in RUN_FOLDERS if name not in mine]
    return list(dict.fromkeys(tree.resolve() for tree in trees if tree.is_dir()))


def scratch(folder: Path) -> Path:
    """A folder for one sandbox's files, with a tmp folder inside."""
    (folder / "tmp").mkdir(parents=True)
    return folder


def run_suites(
    job: Job, part: str, nodeids: list[str], seconds: float, plugins: tuple = ()
) -> tuple[list[dict], sandbox.Outcome]:
    """One pytest process on the kit in the sandbox: its events and outcome
    (``plugins``: more of the grader's pytest plugins, by module name)."""
    settings, work = job.settings, job.work
    out = work / f"{part}-out"
    events = out / "events.jsonl"
    outcome = run(
        job,
        pytest_command(settings, nodeids, plugins),
        cwd=work / "kit",
        env=environment(settings, out, [work / "kit", work / "plugins"])
        | {
            "GRADE_EVENTS": str(events),
            "KV_REPLY_TIMEOUT": str(settings.runs.reply_seconds),
            "KV_CALL_TIMEOUT": str(settings.runs.call_seconds),
            "KV_PICTURES_DIR": str(out / "pictures"),
            "HYPOTHESIS_STORAGE_DIRECTORY": str(out / "hypothesis"),
        },
        seconds=seconds,
        writable=[out],
        hidden=hidden(work, out.name, "kit", "plugins"),
    )
    return read_events(events), outcome


def run(job: Job, command: list[str], *, seconds: float, **where) -> sandbox.Outcome:
    """``sandbox.run`` with the settings' limits and the job's deadline."""
    box = job.settings.sandbox
    return sandbox.run(
        command,
        limits=sandbox.Limits.from_settings(box, job.seconds(seconds)),
        network=box.network,
        user=box.user,
        uid_base=box.uid_base,
        uid_count=box.uid_count,
        **where,
    )


def note_run(
    job: Job, part: str, results: list[TestResult], outcome: sandbox.Outcome
) -> None:
    """Say in the report's notes how a run that went wrong ended; keep the end
    of its raw output for the staff (the student reads each test's message)."""
    if any(not test.passed for test in results) and not outcome.ok:
        job.notes.append(f"The {part} test process {outcome.describe()}.")
    if outcome.truncated:
        job.notes.append(
            f"{part} printed {outcome.output_bytes} bytes; only the first and last "
            f"{outcome.limits.output_bytes // 2} were kept."
        )
    if outcome.output_bytes and not outcome.ok:
        tail = outcome.output[-OUTPUT_CHARS:]
        job.staff.append(f"The {part} test process's output ended with:\n{tail}")


def scrub(text: str, work: Path) -> str:
    """``text`` without the grader's paths: the kit's files by their names in
    the student's tree ("partA/server.py"), anything else of the work folder
    as "<grader>"."""
    for folder in dict.fromkeys((str(work), str(work.resolve()))):
        text = text.replace(f"{folder}/kit/", "").replace(folder, "<grader>")
    return text


PLUGINS = ("outcome_plugin.py", "checks_plugin.py")  # grading's, for the runs


def pytest_command(
    settings: Settings, nodeids: list[str], plugins: tuple = ()
) -> list[str]:
    command = [sys.executable, "-m", "pytest", *nodeids]
    for plugin in ("pytest_timeout", "outcome_plugin", *plugins):
        command += ["-p", plugin]
    command += ["-p", "no:cacheprovider"]
    command += ["--timeout", str(settings.runs.test_seconds), "--timeout-method=signal"]
    return command + ["-q", "--no-header", "-s", "-o", "console_output_style=classic"]


def environment(settings: Settings, out: Path, path: list[Path]) -> dict[str, str]:
    """A small, known environment: nothing of the grader's leaks in."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.defpath]),
        "HOME": str(out),
        "TMPDIR": str(out / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(map(str, path)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "MALLOC_ARENA_MAX": "2",  # threads reserve less address space
    }


def read_events(events: Path) -> list[dict]:
    records = []
    try:
        lines = events.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut short when the process died
    return records


def verdicts(records: list[dict], outcome: sandbox.Outcome) -> dict[str, str]:
    """Each test that started: "passed", or why it did not pass (in words).

    A test that failed to load its file is under the key "" (and the file's).
    """
    started, ended, passed = set(), set(), set()
    failures: dict[str, list[str]] = {}
    for record in records:
        event, test = record.get("event"), record.get("test", "")
        if event == "start":
            started.add(test)
        elif event == "end":
            ended.add(test)
        elif event == "report" and record.get("outcome") == "failed":
            phase = "" if record["when"] == "call" else f"(in {record['when']}) "
            failures.setdefault(test, []).append(phase + record["message"])
        elif event == "report" and record.get("outcome") == "passed":
            passed.add(test)
        elif event == "collect-error":
            failures.setdefault("", []).append(record.get("message", ""))
    found = {"": "\n".join(failures[""])} if "" in failures else {}
    for test in started | set(failures) - {""}:
        if test in failures:
            found[test] = "\n".join(failures[test])
        elif test in passed and test in ended:
            found[test] = "passed"
        else:
            found[test] = (
                f"this test was running when the test process {outcome.describe()} "
                "(a hang, a crash, or a limit reached)"
            )
    return found


def checks(records: list[dict]) -> dict[str, dict[str, list[str]]]:
    """What the cross-cutting checks said (checks_plugin.py, beside this one):
    for each check, each test it ran in, and its failures there (none: it
    passed)."""
    found: dict[str, dict[str, list[str]]] = {}
    for record in records:
        if record.get("event") == "check":
            said = found.setdefault(record["check"], {}).setdefault(record["test"], [])
            said += [record["message"]] if record.get("message") else []
    return found


def isolation_line(part: str, outcome: sandbox.Outcome) -> str:
    iso = outcome.isolation
    what = [
        f"user {iso.user}",
        "network: loopback only" if iso.network else "network: NOT isolated",
        "own PID namespace" if iso.pids else "no PID namespace",
    ]
    notes = f" ({'; '.join(iso.notes)})" if iso.notes else ""
    return f"{part}: {', '.join(what)}{notes}"


def pictures(out: Path) -> list[Path]:
    """The failure pictures a partA run left (see partA/framework/picture.py),
    by name."""
    return sorted((out / "pictures").glob("*.html"))
