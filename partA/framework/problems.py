"""A failed test's problems, one per line, and the run's summary of them.

A test can find several things wrong with a server: what the test itself
saw (a wrong reply, a hang), then what the checks at ``close()`` find (the
store used by two threads, state with two owners, threads left running or
never joined, sockets left open). Each is a problem; a failure lists them
all, one per line and in the order of ``ServerUnderTest``'s checks, so that
fixing one never uncovers another that was there all along.

Threads are named by role ("a reader thread", "the accept thread"), not by
their number, where the number says nothing: so the same mistake reads the
same in every test. At the end of the run, ``summary`` gathers the distinct
problems of every failed test, each said once with the tests it broke
(partA/conftest.py prints it). A problem's summary is its first line
without what changes from test to test: asides in parentheses, client
numbers, counts and times.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable

HEAD = re.compile(r"^(?:E +)?(\d+) problems:$")
_PYTEST_E = re.compile(r"^E +(?=\d+ problems:$|- )")
ITEM = "- "
INDENT = "  "


def listed(problems: Iterable[str]) -> str:
    """The problems as a failure message: one alone as it is; several as a
    list, each item's further lines (where threads wait, say) indented."""
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        return unique[0]
    items = [ITEM + p.rstrip("\n").replace("\n", "\n" + INDENT) for p in unique]
    return "\n".join([f"{len(unique)} problems:", *items])


def read(message: str) -> list[str]:
    """The problems a failure message lists (the first lines of each), in
    pytest's report too (where its lines may begin with "E ")."""
    lines = [_PYTEST_E.sub("", line.rstrip()) for line in message.splitlines()]
    start = next((i for i, line in enumerate(lines) if HEAD.match(line)), None)
    if start is None:
        return [lines[0]] if lines else []
    return [line[len(ITEM) :] for line in lines[start + 1 :] if line.startswith(ITEM)]


# ----- threads by role ----------------------------------------------------------

_DEFAULT_NAME = re.compile(r"Thread-\d+(?: \((\w+)\))?")
_NUMBERED = re.compile(r"(.*?)[-_ ]?\d+")


def role(name: str) -> str:
    """What a thread's name says it does, without its number: "reader" for
    "reader-3", "thread running read()" for Python's "Thread-3 (read)"."""
    default = _DEFAULT_NAME.fullmatch(name)
    if default:
        target = default.group(1)
        return f"thread running {target}()" if target else "thread"
    numbered = _NUMBERED.fullmatch(name)
    return numbered.group(1) if numbered and numbered.group(1) else name


def who(name: str, other: str | None = None) -> str:
    """A server thread in words: "the accept thread" if its name has no number,
    else "a reader thread" ("another reader thread" if ``other``, the thread
    named before it in the same sentence, has the same role)."""
    kind = role(name)
    noun = kind if kind.startswith("thread") else f"{kind} thread"
    if kind == name:
        return f"the {noun}"
    if other is not None and other != name and role(other) == kind:
        return f"another {noun}"
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def by_role(threads: Iterable[threading.Thread | str]) -> str:
    """Threads counted by role: "the accept thread, 4 reader threads"."""
    names = [t if isinstance(t, str) else t.name for t in threads]
    counts = Counter(role(name) for name in names)
    said = []
    for kind, n in counts.items():
        if n == 1:
            said.append(who(next(x for x in names if role(x) == kind)))
        else:
            plural = kind.replace("thread", "threads", 1)
            said.append(f"{n} {plural if plural != kind else kind + ' threads'}")
    return ", ".join(said)


# ----- the run's summary -------------------------------------------------------------

_ASIDE = re.compile(r" \((?:[^()]|\(\))+\)")  # "(a, b)", "(calling close())"
_CLIENT = re.compile(r"\b(slow )?client \d+")
_BYTES = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


def summary(problem: str) -> str:
    """A problem as the run's summary says it: the same in every test."""
    said = problem.splitlines()[0] if problem else ""
    while _ASIDE.search(said):
        said = _ASIDE.sub("", said)
    said = _CLIENT.sub(lambda m: f"a {m.group(1) or ''}client", said)
    said = _BYTES.sub("a line", said)
    return _NUMBER.sub("N", said)


def summarize(failures: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(test, message) pairs -> each distinct problem, with the tests it broke:
    the problem that broke the most tests first, then in the order first met."""
    found: dict[str, list[str]] = {}
    for test, message in failures:
        for problem in read(message):
            tests = found.setdefault(summary(problem), [])
            if test not in tests:
                tests.append(test)
    return sorted(found.items(), key=lambda item: -len(item[1]))
