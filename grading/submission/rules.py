"""The course rules: an AST scan of a server for forbidden names.

partA is about threads and queues, so a server may not use locks, processes
or the like (``[rules] forbidden`` in the settings). The scan follows
imports and aliases to the full names code uses (``import threading as t``;
``t.Lock`` is ``threading.Lock``), so a name of the student's own, such as
``self._accept_thread``, is never taken for one. Each use is reported with
its line; each forbidden name used costs points, up to a cap.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grading.submission.intake import SERVER, parse, syntax_error
from grading.submission.report import TestResult, points
from grading.settings import Settings


# The forbidden names that make a lock: a server that uses one guards its
# state with it (the ownership checker counts a lock as a hand-over, so the
# rules are what charge it).
LOCKS = (
    "threading.Lock",
    "threading.RLock",
    "threading.Condition",
    "threading.Semaphore",
    "threading.BoundedSemaphore",
    "_thread.allocate_lock",
)
LOCKED = (
    "State guarded by a lock: the course rules forbid locks; hand the state to "
    "one owner thread, and send it messages (HANDOUT.md: One owner per piece "
    "of state)."
)


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    name: str  # the forbidden name used, e.g. "threading.Lock"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: uses {self.name}"


def find_violations(
    source: bytes | str, forbidden: tuple[str, ...], file: str = SERVER
) -> list[Violation]:
    """Each use of a forbidden name in ``source`` (which must compile)."""
    scanner = _Scanner(forbidden)
    scanner.visit(parse(source, file))
    found = {Violation(file, line, name) for line, name in scanner.found}
    return sorted(found, key=lambda v: (v.line, v.name))


class _Scanner(ast.NodeVisitor):
    """Follows imports and aliases to the full names that code uses."""

    def __init__(self, forbidden: tuple[str, ...]) -> None:
        self.forbidden = forbidden
        self.aliases: dict[str, str] = {}  # local name -> full name
        self.found: list[tuple[int, str]] = []

    def check(self, node: ast.AST, name: str) -> None:
        for rule in self.forbidden:
            if rule.endswith("*"):
                hit = name.startswith(rule[:-1])
            else:
                hit = name == rule or name.startswith(rule + ".")
            if hit:
                self.found.append((node.lineno, name))
                return

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check(node, alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self.check(node, module if alias.name == "*" else full)
            self.aliases[alias.asname or alias.name] = full

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases:
            self.check(node, self.aliases[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self.full_name(node)
        if full is not None:
            self.check(node, full)
        else:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        target = self.full_name(node.func)
        texts = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if target in ("__import__", "importlib.import_module") and texts:
            self.check(node, str(texts[0]))
        elif target == "getattr" and len(node.args) > 1 and texts:
            owner = self.full_name(node.args[0])
            if owner is not None:
                self.check(node, f"{owner}.{texts[0]}")
        self.generic_visit(node)

    def full_name(self, node: ast.AST) -> str | None:
        """``t.Lock`` with ``import threading as t`` -> "threading.Lock"."""
        if isinstance(node, ast.Name):
            return self.aliases.get(
                node.id, node.id if node.id in ("__import__", "getattr") else None
            )
        if isinstance(node, ast.Attribute):
            owner = self.full_name(node.value)
            return None if owner is None else f"{owner}.{node.attr}"
        return None


def grade(
    server: bytes | None, settings: Settings, file: str = SERVER
) -> list[TestResult]:
    rules = settings.rules
    name = "course rules (no locks, no processes: threads and queues only)"
    number = "4.1"
    if file != SERVER:
        name, number = f"course rules ({file})", "4.2"
    if server is None or syntax_error(server, file):
        return [
            TestResult(
                name,
                number,
                0,
                0,
                "passed",
                f"not checked: no {file} that compiles",
                settings.visibility.tests,
            )
        ]
    violations = find_violations(server, rules.forbidden, file)
    if not violations:
        return [
            TestResult(
                name,
                number,
                0,
                0,
                "passed",
                f"{file}: no forbidden names",
                settings.visibility.tests,
            )
        ]
    names = sorted({v.name for v in violations})
    penalty = min(len(names) * rules.points_per_violation, rules.max_penalty)
    cost = (
        f"-{points(penalty)} points"
        if rules.costs_points
        else "no points taken (reported only)"
    )
    lines = [f"Forbidden by the course rules ({cost}):"] + [
        f"  {v}" for v in violations
    ]
    if any(name.startswith(LOCKS) for name in names):
        lines.append(LOCKED)
    score = -penalty if rules.costs_points else 0
    return [
        TestResult(
            name,
            number,
            score,
            0,
            "failed",
            "\n".join(lines),
            settings.visibility.tests,
        )
    ]
