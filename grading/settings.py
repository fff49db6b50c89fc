"""The grading settings: ``grading/settings.toml``, read into ``Settings``.

The TOML file is the one place an instructor changes points, time limits,
sandbox limits, the course rules and visibility. ``load_settings()`` reads it
(or another file), applies ``overrides`` shaped like the file (tests use them
for short timeouts), and checks every key: a misspelt key is an error that
names it, never a silently ignored line.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (see pyproject.toml)
    import tomli as tomllib

DEFAULT_PATH = Path(__file__).with_name("settings.toml")


class SettingsError(ValueError):
    """A settings file that cannot be used; the message says why."""


@dataclass(frozen=True)
class PartATest:
    """One partA test and what it is worth."""

    suite: str  # the class, e.g. "TestBasic"
    name: str  # the test, e.g. "test_basic1"
    points: float

    @property
    def file(self) -> str:
        """The suite's file in the kit, e.g. "partA/test_basic.py"."""
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", self.suite).lower()
        return f"partA/{snake}.py"

    @property
    def nodeid(self) -> str:
        return f"{self.file}::{self.suite}::{self.name}"


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


@dataclass(frozen=True)
class Handout:
    """What ``python -m grading handout`` gives students."""

    # How much of the reference's design the partA stub and HANDOUT.md show:
    # "contract" (the API, the protocol, the rules), "hints" (and HANDOUT's
    # hints), or "design" (and the reference's theory of operation).
    hints: str = "hints"


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

    @property
    def max_score(self) -> float:
        return self.points.total + self.partC.total


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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: {error}") from None
    data = _merge(data, overrides or {})
    try:
        return _build(data)
    except SettingsError as error:
        raise SettingsError(f"{path}: {error}") from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            # the partA table is replaced, so a test can grade fewer tests
            replace = key == "partA"
            merged[key] = value if replace else _merge(merged[key], value)
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
    return Settings(
        points=Points(tests, *_values(Points, points, "points", skip={"partA"})),
        runs=_section(Runs, data, "runs"),
        sandbox=sandbox,
        rules=_section(Rules, data, "rules"),
        visibility=visibility,
        partC=_partC(data.get("partC", {})),
        handout=_handout(data.get("handout", {})),
        gradescope=_gradescope(data.get("gradescope", {})),
    )


def _handout(data: Any) -> Handout:
    """The [handout] table; an absent one means the defaults."""
    table = dataclasses.asdict(Handout()) | _table(data, "handout")
    handout = Handout(*_values(Handout, table, "handout"))
    if handout.hints not in HINT_LEVELS:
        raise SettingsError(f"handout.hints must be one of {list(HINT_LEVELS)}")
    return handout


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
