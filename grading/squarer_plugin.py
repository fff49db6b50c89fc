"""A pytest plugin for one run of a student's squarer tests, in its own process.

squarer_tests.py starts ``python -m pytest -p grading.squarer_plugin`` on a
copy of the student's test file. This plugin, configured by environment:

- SQUARER_UNDER_TEST names the module whose ``Squarer`` the tests get: it
  becomes ``partB.squarer``, so the student's ``from partB.squarer import
  Squarer`` imports a wheat or a chaff, and their file stays untouched;
- SQUARER_EVENTS is a file to which it appends one JSON line per event
  (test started, test phase reported, collection error, session finished),
  flushed at once, so the parent knows how far a run got even if the
  process dies, is killed, or calls ``os._exit``;
- SQUARER_CPU_SECONDS caps the process's CPU time, and SQUARER_MAX_BYTES the
  size of any file it writes (an endless print fills one), where the system
  has such limits (not Windows, where a student may check their tests).

It takes these variables out of the environment once read, so that a test
cannot simply look up which squarer it is testing.
"""

import importlib
import json
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

try:
    import resource
except ImportError:  # Windows, where a student checks their tests: no limits
    resource = None

# How pytest-timeout fails a test that runs out of time.
TIMEOUT_LINE = re.compile(r"^E +Failed: Timeout \(>[0-9.]+s\) from pytest-timeout\.$")

_given: dict[str, str] = {}  # the SQUARER_* variables, once out of the environment


def _limit(which: str, variable: str) -> None:
    if variable in _given and resource is not None:
        limit = int(_given[variable])
        resource.setrlimit(getattr(resource, which), (limit, limit))


def _swap_in(module_name: str) -> None:
    """Make ``partB.squarer`` (and ``import partB.squarer``) be ``module_name``."""
    chosen = importlib.import_module(module_name)  # imports the reference too
    package = importlib.import_module("partB")
    sys.modules["partB.squarer"] = chosen
    package.squarer = chosen


def _record(**event: Any) -> None:
    with open(_given["SQUARER_EVENTS"], "a", encoding="utf-8") as events:
        events.write(json.dumps(event) + "\n")


def _message(report: pytest.CollectReport | pytest.TestReport) -> str:
    """What went wrong, as pytest's "E" lines say it, and at which line."""
    lines = report.longreprtext.splitlines()
    errors = [line[1:] for line in lines if line.startswith("E ")] or lines[-10:]
    return "\n".join([textwrap.dedent("\n".join(errors)), *_where(report)])


def _where(report: pytest.CollectReport | pytest.TestReport) -> list[str]:
    """The line of the test file where a test failed, if the traceback has one."""
    traceback = getattr(report.longrepr, "reprtraceback", None)
    for entry in reversed(getattr(traceback, "reprentries", [])):
        place = getattr(entry, "reprfileloc", None)
        if place is not None and Path(place.path).name == Path(report.fspath).name:
            code = [line[1:].strip() for line in entry.lines if line.startswith(">")]
            return [f"at line {place.lineno}: {' '.join(code)}"]
    return []


def pytest_configure(config: pytest.Config) -> None:
    _swap_in(os.environ["SQUARER_UNDER_TEST"])  # a wheat may read SQUARER_SEED
    for name in [name for name in os.environ if name.startswith("SQUARER_")]:
        _given[name] = os.environ.pop(name)
    _limit("RLIMIT_CPU", "SQUARER_CPU_SECONDS")
    _limit("RLIMIT_FSIZE", "SQUARER_MAX_BYTES")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _record(event="collect-error", test=report.nodeid, message=_message(report))


def pytest_runtest_logstart(nodeid: str) -> None:
    _record(event="start", test=nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed or report.when == "call":
        _record(
            event="report",
            test=report.nodeid,
            when=report.when,
            outcome=report.outcome,
            message=_message(report) if report.failed else "",
            timed_out=report.failed and _timed_out(report),
            seconds=report.duration,
            where=_where(report) if report.failed else [],
        )


def _timed_out(report: pytest.TestReport) -> bool:
    """Whether pytest-timeout stopped the test (it fails it with this line)."""
    lines = report.longreprtext.splitlines()
    return any(TIMEOUT_LINE.match(line) for line in lines)


def pytest_runtest_logfinish(nodeid: str) -> None:
    _record(event="end", test=nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _record(event="finished", exitstatus=int(exitstatus))
