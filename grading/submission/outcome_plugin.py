"""A pytest plugin that writes each test's outcome to a file as it happens.

grade.py runs the partA suites on a submission with ``-p outcome_plugin``
(a copy of this file, out of the kit's reach). GRADE_EVENTS names the file
to which it appends one JSON line per event (a test started, a phase was
reported, a test finished, the session finished; and first, the tests
collected), flushed at once, so that a
run that is killed, crashes or calls ``os._exit`` still tells the grader
which tests finished and which one was running.
"""

import json
import os
import textwrap
from typing import Any

import pytest

_EVENTS = os.environ.pop("GRADE_EVENTS", "")
MESSAGE_CHARS = 3000
MESSAGE_LINES = 60  # a message in words (partA's list of problems) is kept whole


def _record(**event: Any) -> None:
    if _EVENTS:
        with open(_EVENTS, "a", encoding="utf-8") as events:
            events.write(json.dumps(event) + "\n")


def _message(report: pytest.CollectReport | pytest.TestReport) -> str:
    """What went wrong, as pytest's "E" lines say it (else the message whole,
    or the last lines of a long one)."""
    lines = report.longreprtext.splitlines()
    errors = [line[1:] for line in lines if line.startswith("E ")]
    errors = errors or (lines if len(lines) <= MESSAGE_LINES else lines[-20:])
    return textwrap.dedent("\n".join(errors))[:MESSAGE_CHARS]


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _record(event="collect-error", test=report.nodeid, message=_message(report))


def pytest_collection_finish(session: pytest.Session) -> None:
    _record(event="collected", tests=[item.nodeid for item in session.items])


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
        )


def pytest_runtest_logfinish(nodeid: str) -> None:
    _record(event="end", test=nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _record(event="finished", exitstatus=int(exitstatus))
