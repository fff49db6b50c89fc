"""The grading settings: ``grading/settings.toml``, read into ``Settings``.

The TOML file is the one place an instructor changes points, time limits,
sandbox limits, the course rules and visibility. ``load_settings()`` reads it
(or another file), applies ``overrides`` shaped like the file (tests use them
for short timeouts), and checks every key: a misspelt key is an error that
names it, never a silently ignored line.

Every partA test a setting names must be a test of the kit: the loader
collects the kit's tests as pytest does (``pytest --collect-only``, once per
process and version of the test files) and refuses a name it does not find,
with the file, the line, and the names it could have meant. A test is named
by its class (``[points.partA.TestBasic] test_basic1``) or, for a test that is
a function of its module, by the module (``[points.partA.test_robustness]
test_bad_line_is_skipped``); a parametrized test is one entry, which passes
when every one of its cases passes.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (see pyproject.toml)
    import tomli as tomllib

DEFAULT_PATH = Path(__file__).with_name("settings.toml")
KIT_ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = ("pytest", "pytest_timeout")  # what collecting the kit's tests needs


def pinned_ruff(source: Path = KIT_ROOT) -> str:
    """The ruff that the test extra of pyproject.toml pins ("ruff==X.Y.Z"):
    students install it, and the grader installs the same one, so that the
    format point never depends on a ruff release."""
    text = (source / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'"(ruff==[\w.]+)"', text)
    if found is None:
        raise ValueError("pyproject.toml's test extra must pin ruff: ruff==X.Y.Z")
    return found.group(1)


class SettingsError(ValueError):
    """A settings file that cannot be used; the message says why."""


@dataclass(frozen=True)
class PartATest:
    """One partA test and what it is worth."""

    suite: str  # the class, e.g. "TestBasic", or the module, "test_robustness"
    name: str  # the test, e.g. "test_basic1"
    points: float

    @property
    def in_module(self) -> bool:
        """Whether the test is a function of its module, not a method of a class."""
        return self.suite.startswith("test_")

    @property
    def file(self) -> str:
        """The suite's file in the kit, e.g. "partA/test_basic.py"."""
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", self.suite).lower()
        return f"partA/{snake}.py"

    @property
    def nodeid(self) -> str:
        """pytest's id of the test (of all its cases, if it is parametrized)."""
        if self.in_module:
            return f"{self.file}::{self.name}"
        return f"{self.file}::{self.suite}::{self.name}"

    @property
    def key(self) -> str:
        """Its key in the settings file, e.g. "points.partA.TestBasic.test_basic1"."""
        return f"points.partA.{self.suite}.{self.name}"


@dataclass(frozen=True)
class PartCSuite:
    """One graded partC suite and what it is worth (split among its tests)."""

    name: str  # the file's stem, e.g. "test_transactions"
    points: float

    @property
    def file(self) -> str:
        return f"partC/{self.name}.py"


@dataclass(frozen=True)
class PartC:
    """partC's grading: off unless ``enabled``."""

    enabled: bool
    seconds: float  # all its suites together, then every process is killed
    suites: tuple[PartCSuite, ...]

    @property
    def total(self) -> float:
        return sum(suite.points for suite in self.suites) if self.enabled else 0


@dataclass(frozen=True)
class Points:
    partA: tuple[PartATest, ...]
    partB: float
    format: float

    @property
    def total(self) -> float:
        return sum(test.points for test in self.partA) + self.partB + self.format


@dataclass(frozen=True)
class Runs:
    test_seconds: float
    reply_seconds: float
    call_seconds: float
    partA_seconds: float
    partB_seconds: float
    partB_test_seconds: float
    partB_run_seconds: float
    partB_wheat_runs: int  # 0: each wheat's own RUNS
    partB_chaff_runs: int
    partB_jobs: int
    format_seconds: float
    total_seconds: float  # the grader's deadline: every run of a submission ends by it


@dataclass(frozen=True)
class Sandbox:
    cpu_seconds: int
    memory_mib: int
    processes: int
    file_size_mib: int
    output_bytes: int
    output_limit_bytes: int  # a run that prints more is stopped (0: never)
    submission_kib: int
    zip_mib: int
    user: str  # "auto", a user name, or "" (stay who we are)
    uid_base: int
    uid_count: int
    network: str  # "private" or "host"


@dataclass(frozen=True)
class Rules:
    forbidden: tuple[str, ...]
    costs_points: bool
    points_per_violation: float
    max_penalty: float


@dataclass(frozen=True)
class Visibility:
    tests: str
    partB: str
    stdout: str


HINT_LEVELS = ("contract", "hints", "design")
PLATFORMS = ("gradescope", "prairielearn")


@dataclass(frozen=True)
class Handout:
    """What ``python -m grading handout`` gives students."""

    # How much of the reference's design the partA stub and HANDOUT.md show:
    # "contract" (the API, the protocol, the rules), "hints" (and HANDOUT's
    # hints), or "design" (and the reference's theory of operation).
    hints: str = "hints"
    # Where students hand in: "gradescope" (a zip) or "prairielearn" (the files);
    # HANDOUT.md's "How to hand in" and the grader's Python follow it.
    platform: str = "gradescope"


CROSS_CUTTING = ("fail_test", "own_lines")
CHECKS = ("ownership", "joins", "sockets")  # partA's cross-cutting checks


@dataclass(frozen=True)
class Policy:
    """How partA's cross-cutting checks (``CHECKS``) count in the grade."""

    # "fail_test": a failed check fails the test it happened in (as when
    # students run the suites); "own_lines": it does not, and each check is
    # a line of the grade worth ``check_points``, lost if any graded test
    # failed it.
    cross_cutting: str = "fail_test"
    check_points: float = 1

    def lines(self, settings: Settings) -> float:
        """The points of the checks' own lines (0 under "fail_test")."""
        graded = any(test.points for test in settings.points.partA)
        own = self.cross_cutting == "own_lines" and graded
        return len(CHECKS) * self.check_points if own else 0


@dataclass(frozen=True)
class Gradescope:
    """Where the grader runs on Gradescope."""

    timeout_seconds: float = 600  # the assignment's autograder timeout


@dataclass(frozen=True)
class Settings:
    points: Points
    runs: Runs
    sandbox: Sandbox
    rules: Rules
    visibility: Visibility
    partC: PartC = PartC(False, 300, ())
    handout: Handout = Handout()
    gradescope: Gradescope = Gradescope()
    policy: Policy = Policy()

    @property
    def max_score(self) -> float:
        return self.points.total + self.policy.lines(self) + self.partC.total


VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def load_settings(
    path: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Read the settings file (default: grading/settings.toml), then ``overrides``.

    ``overrides`` has the file's shape, e.g. ``{"runs": {"test_seconds": 5}}``;
    ``{"points": {"partA": {...}}}`` replaces the partA table as a whole.
    Raises ``SettingsError`` naming the key at fault.
    """
    path = Path(path) if path else DEFAULT_PATH
    text, data = _read(path)
    data = merge(data, overrides or {})
    try:
        settings = _build(data)
    except SettingsError as error:
        raise SettingsError(f"{path}: {error}") from None
    if not _the_kits_own(path, overrides):
        for test in settings.points.partA:
            check_test(test, path, text)
    return settings


def _the_kits_own(path: Path, overrides: dict[str, Any] | None) -> bool:
    """The kit's settings file, its partA table not overridden: the tests it
    names are checked by the kit's own tests (test_settings), so reading it
    needs no collection, nor pytest (a bare Python can build the handout)."""
    partA = (overrides or {}).get("points", {}).get("partA")
    return path.resolve() == DEFAULT_PATH.resolve() and partA is None


def read_table(path: Path | str) -> dict[str, Any]:
    """The settings file's tables as they are written, unchecked."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
        return text, tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: {error}") from None


def check_test(test: PartATest, path: Path, text: str) -> None:
    """Refuse a test the kit does not have, saying where and what it could be."""
    known = kit_tests()
    if test.nodeid in known:
        return
    names = {_setting_name(nodeid): nodeid for nodeid in known}
    wanted = f"{test.suite}.{test.name}"
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    line = _line_of(text, f"points.partA.{test.suite}", test.name)
    where = f"{path}:{line}" if line else f"{path} (or its overrides)"
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise SettingsError(
        f"{where}: {test.key} names no test of the kit ({test.nodeid} is not "
        f"among the {len(known)} tests of partA){hint}"
    )


def _setting_name(nodeid: str) -> str:
    """A test's name as the settings write it: "partA/test_x.py::TestX::test_y"
    -> "TestX.test_y"; a module's function:
    "partA/test_x.py::test_y" -> "test_x.test_y" (as the settings name them)."""
    file, *rest = nodeid.split("::")
    if len(rest) == 1:
        rest = [Path(file).stem, *rest]
    return ".".join(rest)


def _line_of(text: str, table: str, key: str) -> int | None:
    """The line of ``key`` in the TOML ``table`` (``[table]`` then ``key = ...``)."""
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if header := re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped):
            current = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "")
        elif current == table and re.match(rf"['\"]?{re.escape(key)}\b", stripped):
            return number
    return None


def kit_tests(root: Path = KIT_ROOT) -> frozenset[str]:
    """Every test of the kit's partA suites, as pytest collects them: their ids,
    each parametrized test once (its cases' ids cut at "[")."""
    files = sorted((root / "partA").glob("test_*.py"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return collect_tests(root, digest.hexdigest())


@functools.lru_cache(maxsize=4)
def collect_tests(root: Path, digest: str) -> frozenset[str]:
    """``pytest --collect-only`` on the kit's partA (``digest``: of its test files,
    so that a changed file is collected again)."""
    missing = [name for name in TEST_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        raise SettingsError(
            f"cannot check the settings against the kit's tests: {', '.join(missing)} "
            f'not installed for {sys.executable} (python -m pip install -e ".[test]")'
        )
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q"]
    command += ["-p", "no:cacheprovider", "partA"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    try:
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SettingsError(f"could not collect the kit's tests: {error}") from None
    ids = {line.split("[", 1)[0] for line in done.stdout.splitlines() if "::" in line}
    if done.returncode != 0 or not ids:
        said = (done.stdout + done.stderr).strip()[-2000:]
        raise SettingsError(
            f"could not collect the kit's tests to check the settings against "
            f"(pytest --collect-only partA exited with code {done.returncode}):\n{said}"
        )
    return frozenset(ids)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, table by table (partA's table is
    replaced whole)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            # the partA table is replaced, so a test can grade fewer tests
            replace = key == "partA"
            merged[key] = value if replace else merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(data: dict[str, Any]) -> Settings:
    _only(
        data,
        "",
        {
            "points",
            "runs",
            "sandbox",
            "rules",
            "visibility",
            "partC",
            "handout",
            "gradescope",
            "policy",
        },
    )
    points = dict(data.get("points", {}))
    partA = points.pop("partA", {})
    tests = tuple(
        PartATest(suite, name, _number(f"points.partA.{suite}.{name}", value))
        for suite, table in _table(partA, "points.partA").items()
        for name, value in _table(table, f"points.partA.{suite}").items()
    )
    visibility = _section(Visibility, data, "visibility")
    for field in dataclasses.fields(Visibility):
        if getattr(visibility, field.name) not in VISIBILITIES:
            raise SettingsError(
                f"visibility.{field.name} must be one of {sorted(VISIBILITIES)}"
            )
    sandbox = _section(Sandbox, data, "sandbox")
    if sandbox.network not in ("private", "host"):
        raise SettingsError('sandbox.network must be "private" or "host"')
    settings = Settings(
        points=Points(tests, *_values(Points, points, "points", skip={"partA"})),
        runs=_section(Runs, data, "runs"),
        sandbox=sandbox,
        rules=_section(Rules, data, "rules"),
        visibility=visibility,
        partC=_partC(data.get("partC", {})),
        handout=_handout(data.get("handout", {})),
        gradescope=_gradescope(data.get("gradescope", {})),
        policy=_policy(data.get("policy", {})),
    )
    if settings.partC.enabled and settings.handout.platform == "prairielearn":
        raise SettingsError(
            'handout.platform "prairielearn" with partC.enabled: the PrairieLearn '
            "question takes partA/server.py and partB/test_squarer.py only"
        )
    return settings


def _handout(data: Any) -> Handout:
    """The [handout] table; an absent one means the defaults."""
    table = dataclasses.asdict(Handout()) | _table(data, "handout")
    handout = Handout(*_values(Handout, table, "handout"))
    if handout.hints not in HINT_LEVELS:
        raise SettingsError(f"handout.hints must be one of {list(HINT_LEVELS)}")
    if handout.platform not in PLATFORMS:
        raise SettingsError(f"handout.platform must be one of {list(PLATFORMS)}")
    return handout


def _policy(data: Any) -> Policy:
    """The [policy] table; an absent one means the defaults."""
    table = dataclasses.asdict(Policy()) | _table(data, "policy")
    policy = Policy(*_values(Policy, table, "policy"))
    if policy.cross_cutting not in CROSS_CUTTING:
        raise SettingsError(
            f"policy.cross_cutting must be one of {list(CROSS_CUTTING)}"
        )
    return policy


def _gradescope(data: Any) -> Gradescope:
    """The [gradescope] table; an absent one means Gradescope's defaults."""
    table = dataclasses.asdict(Gradescope()) | _table(data, "gradescope")
    return Gradescope(*_values(Gradescope, table, "gradescope"))


PARTC_SUITES = (  # the partC suites that may be graded (the others need PostgreSQL)
    "test_list",
    "test_errors",
    "test_classic",
    "test_notifications",
    "test_transactions",
    "test_serial_model",
)


def _partC(data: Any) -> PartC:
    """The [partC] table; an absent one means partC is not graded."""
    table = dict(_table(data, "partC"))
    _only(table, "partC", {"enabled", "seconds", "points"})
    enabled = _convert("partC.enabled", "bool", table.get("enabled", False))
    seconds = _number("partC.seconds", table.get("seconds", 300))
    points = _table(table.get("points", {}), "partC.points")
    _only(points, "partC.points", set(PARTC_SUITES))
    suites = tuple(
        PartCSuite(name, _number(f"partC.points.{name}", value))
        for name, value in points.items()
    )
    return PartC(enabled, seconds, suites)


def _section(kind: type, data: dict[str, Any], name: str) -> Any:
    return kind(*_values(kind, _table(data.get(name, {}), name), name))


def _values(
    kind: type, table: dict[str, Any], name: str, skip: set[str] = frozenset()
) -> list[Any]:
    """The table's values in ``kind``'s field order, each checked and converted."""
    fields = [f for f in dataclasses.fields(kind) if f.name not in skip]
    _only(table, name, {f.name for f in fields})
    values = []
    for field in fields:
        if field.name not in table:
            raise SettingsError(f"{name}.{field.name} is missing")
        values.append(_convert(f"{name}.{field.name}", field.type, table[field.name]))
    return values


def _convert(key: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise SettingsError(f"{key} must be true or false, not {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise SettingsError(f"{key} must be a string, not {value!r}")
        return value
    if kind.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{key} must be a list of strings")
        return tuple(value)
    number = _number(key, value)
    if kind == "int":
        if number != int(number):
            raise SettingsError(f"{key} must be a whole number, not {value!r}")
        return int(number)
    return number


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SettingsError(f"{key} must be a number of at least 0, not {value!r}")
    return value


def _table(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a table")
    return value


def _only(table: dict[str, Any], name: str, known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        where = f"{name}." if name else ""
        raise SettingsError(
            f"unknown setting {where}{unknown[0]} (known: {', '.join(sorted(known))})"
        )


# The command line: every verb that reads settings takes --settings, and
# refuses a bad file the same way.


def add_option(parser: Any, help: str = "") -> None:
    """Give a verb's ``parser`` the ``--settings FILE`` option."""
    parser.add_argument(
        "--settings",
        type=Path,
        help=help
        or "a settings file (default: grading/settings.toml); a bad one is refused, "
        "with its key, file and line",
    )


def load_for(verb: str, path: Path | None) -> Settings | None:
    """The settings of ``path`` for ``verb``; None, once it has said why on
    stderr, if they are refused (the verb then exits with status 2)."""
    try:
        return load_settings(path)
    except SettingsError as error:
        print(f"{verb}: {error}", file=sys.stderr)
        return None
