"""Fixtures for the partA suites; the harness itself is in ``framework/harness.py``."""

from __future__ import annotations

import os
import random
import sys
import threading

import pytest

from pathlib import Path

from partA.framework import amplifier, harness, picture, problems
from partA.framework.harness import DEFAULT_SERVER, ServerUnderTest, load_server_class

ROOT = Path(__file__).resolve().parent.parent  # the kit: pictures go in its build/


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server",
        default=os.environ.get("KV_SERVER", DEFAULT_SERVER),
        help="the server class to test, as module:Class (default: %(default)s)",
    )
    parser.addoption(
        "--stress",
        type=int,
        default=0,
        metavar="N",
        help="run each partA test N times, switching threads every 10 us and "
        "with the race amplifier on (seeded yields and delays), to shake out races",
    )
    parser.addoption(
        "--stress-seed",
        default=None,
        metavar="SEED",
        help="the race amplifier's seed (default: a new one, printed): "
        "replays the draws of the run that printed it",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--stress", 0):
        seed = (
            config.getoption("--stress-seed")
            or os.environ.get("KV_STRESS_SEED")  # pytest-xdist's workers: the run's
            or str(random.randrange(10**6))
        )
        os.environ["KV_STRESS_SEED"] = seed  # for the workers, started after this
        config._kv_stress_seed = seed
        amplifier.start(seed)
        harness.slow_down(STRESS_SLOWDOWN)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Under ``--stress``, give each partA test STRESS_SLOWDOWN times the
    run's per-test timeout (pytest-timeout's backstop), as its waits get."""
    if not config.getoption("--stress", 0):
        return
    base = config.getoption("timeout", None) or config.getini("timeout")
    if not base or not float(base):
        return
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(float(base) * STRESS_SLOWDOWN))


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = getattr(config, "_kv_stress_seed", None)
    if seed is None:
        return None
    return f"race amplifier: seed {seed} (replay: --stress-seed {seed})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test that failed before its server's close(): close it now and run
    every check, so that the failure lists all its problems at once."""
    try:
        return (yield)
    except (Exception, pytest.fail.Exception) as failure:  # not a Ctrl-C
        kv = getattr(item, "funcargs", {}).get("kv")
        if not isinstance(kv, ServerUnderTest) or kv.closed:
            raise
        kv.note_failure()  # before closing unblocks the server's threads
        try:
            more = kv.close_and_check()
        except Exception as error:  # close() raised: a problem too
            more = [f"close() raised {type(error).__name__}: {error}"]
        own = isinstance(failure, pytest.fail.Exception) and not failure.pytrace
        if own and more:  # messages in words: one list
            listed = problems.listed([failure.msg, *more])
            raise pytest.fail.Exception(listed, pytrace=False) from None
        item._kv_more_problems = more  # a traceback: listed after it
        raise


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    more = getattr(item, "_kv_more_problems", None)
    if report.failed and report.when == "call" and more:
        crash = getattr(report.longrepr, "reprcrash", None)
        first = crash.message if crash else report.longreprtext.splitlines()[-1]
        listed = problems.listed([first.splitlines()[0], *more])
        said = "\n".join("E   " + line for line in listed.splitlines())
        report.longrepr = f"{report.longreprtext}\n\n{said}"
    harness = getattr(item, "funcargs", {}).get("kv")
    if report.failed and isinstance(harness, ServerUnderTest):
        _draw(item, report, harness)
    seed = getattr(item.config, "_kv_stress_seed", None)
    if seed is not None and report.failed:
        report.sections.append(
            (
                "race amplifier",
                f"seed {seed}; replay this test with: python -m pytest "
                f"'{item.nodeid}' --stress 1 --stress-seed {seed}",
            )
        )


STRESS_SWITCH_INTERVAL = 1e-5  # seconds; Python's default is 0.005

STRESS_SLOWDOWN = 4
"""Under ``--stress``, every deadline of the harness is this many times longer:
the amplifier's delays and the switching slow every server down, a plainer
design (one message per request) most."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    rounds = metafunc.config.getoption("--stress")
    if rounds:
        metafunc.fixturenames.append("stress_round")
        metafunc.parametrize(
            "stress_round", range(1, rounds + 1), ids="stress{}".format
        )


@pytest.fixture(autouse=True)
def _switch_threads_often(request: pytest.FixtureRequest):
    """Under ``--stress``, make the interpreter switch threads far more often."""
    if not request.config.getoption("--stress"):
        yield
        return
    interval = sys.getswitchinterval()
    sys.setswitchinterval(STRESS_SWITCH_INTERVAL)
    amplifier.set_test(request.node.nodeid)
    yield
    sys.setswitchinterval(interval)


@pytest.fixture
def kv(request: pytest.FixtureRequest):
    """A started server under test; closed (and checked) by the test or here."""
    server_class = load_server_class(request.config.getoption("--server"))
    harness = ServerUnderTest(server_class)
    yield harness
    harness.clean_up()  # if the test failed before its own close()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Do not let a server thread that never ended keep pytest from exiting.

    A broken ``close()`` can leave non-daemon threads running; the test that
    caused it has failed already, so end the process here instead of hanging.
    """
    stuck = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon
    ]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_kv_exitstatus", 1))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config) -> None:
    """After a run with failed partA tests: each distinct problem once, with
    the tests it broke (see partA/framework/problems.py)."""
    stats, failures = terminalreporter.stats, []
    for report in stats.get("failed", []) + stats.get("error", []):
        path = Path(str(config.rootpath)) / report.location[0]
        if path.parent == Path(__file__).parent:
            failures.append((_test_name(report), _failure_message(report)))
    found = problems.summarize(sorted(failures))
    if not found:
        return
    terminalreporter.section(f"partA: {len(found)} distinct problem(s)")
    for problem, tests in found:
        terminalreporter.write_line(f"- {problem}")
        terminalreporter.write_line(f"    in {len(tests)} test(s): {', '.join(tests)}")


def _test_name(report: pytest.TestReport) -> str:
    """The test's name, as "TestBasic.test_basic1" ("... (setup)" for a
    failure outside its body)."""
    name = ".".join(report.nodeid.split("::")[1:])
    return name if report.when == "call" else f"{name} ({report.when})"


def _failure_message(report: pytest.TestReport) -> str:
    """The failure in words: its listed problems, or its exception's line."""
    text = report.longreprtext
    lines = text.splitlines()
    if any(problems.HEAD.match(line) for line in lines):
        return text
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return errors[0] if errors else text


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._kv_exitstatus = exitstatus


def _draw(item: pytest.Item, report: pytest.TestReport, harness: ServerUnderTest):
    """Draw the failed test (partA/framework/picture.py); name the page in its
    message."""
    message = report.longreprtext
    try:
        name = item.nodeid if report.when == "call" else f"{item.nodeid}-{report.when}"
        path = picture.write(
            ROOT, name, message, harness.timeline, harness.threads_started()
        )
    except OSError as error:  # a read-only tree, say: the failure still counts
        line = f"picture: not drawn ({error})"
    else:
        line = f"picture: {path}"
    lines = message.rstrip("\n").splitlines()
    errors = [x for x in lines if x.startswith("E ")]
    if errors:  # keep it among the lines that say what went wrong
        indent = len(errors[-1]) - len(errors[-1][1:].lstrip())
        line = "E" + " " * max(indent - 1, 1) + line
    report.longrepr = "\n".join([*lines, line])
