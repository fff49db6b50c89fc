"""A pytest plugin for the grading policy ``cross_cutting = "own_lines"``.

partA's harness ends every test's ``close()`` with checks that cut across
the suites: the ownership checker (state with two owners), every thread the
server started joined and ended, no socket left open. Under the default
policy a failed check fails the test, as it does when students run the
suites. Under "own_lines", grade.py runs the suites with ``-p
checks_plugin`` (a copy of this file, out of the kit's reach): each check
is written as an event (``check``: which check, the test, and the
message if it failed) and the test goes on, so that what it checks after ``close()``
(the store, say) still counts; the grade then gives each check a line of
its own (grading/submission/judge_partA.py).
"""

import os

import pytest
from outcome_plugin import _record

# Each check, and the harness methods that make it (partA/framework/harness.py).
CHECKS = {
    "ownership": ("_check_ownership",),
    "joins": ("_check_threads", "_check_joins"),
    "sockets": ("_check_sockets",),
}


def pytest_configure(config: pytest.Config) -> None:
    from partA.framework import harness

    for check, methods in CHECKS.items():
        for name in methods:
            original = getattr(harness.ServerUnderTest, name)
            setattr(harness.ServerUnderTest, name, _recorded(check, original))


def _recorded(check: str, original):
    """``original``, whose failure is written down instead of raised."""

    def method(self) -> None:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" ")[0]
        try:
            original(self)
        except pytest.fail.Exception as failure:
            _record(event="check", check=check, test=test, message=str(failure))
        else:
            _record(event="check", check=check, test=test, message="")

    return method
