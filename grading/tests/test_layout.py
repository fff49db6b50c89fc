"""The house shows its plan, and keeps it.

* The maps (README's "What is here", HANDOUT's "What you get") list one line
  a folder: exactly the folders a reader gets, down to two levels, in this
  tree and in the students' copy at each of its shapes.
* No import circle among the kit's modules, and no module reaching for
  another's private names (``_name``), but where a file says why below.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grading.student_edition.handout import LEFT_OUT, build_handout, cut_regions

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("partA", "partB", "partC", "runners", "grading")
MAP_ROW = re.compile(r"^\| `([^`]+/)` \|", re.M)
# Folders of evidence written as students write: not the kit's own code.
EVIDENCE = ("grading/proof/student_submissions",)
# Who may use a private name of another module, and why.
REACHES_IN = {
    # Each is the reference with one step changed (a bug, or another correct
    # choice), so it subclasses or calls the reference's own insides.
    "grading.proof.server_mutants": "partA.server",
    "grading.squarers.": "partB.squarer",
}


def folders(tree: Path) -> set[str]:
    """The folders of ``tree`` that hold a file, down to two levels ("a/b/")."""
    found = set()
    for path in _files(tree):
        parts = path.relative_to(tree).parts[:-1]
        found.update(
            "/".join(parts[: depth + 1]) + "/" for depth in range(len(parts[:2]))
        )
    return found


def _files(tree: Path) -> list[Path]:
    """The files of ``tree``: git's, where it is a clone; else all but caches."""
    if (tree / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files"], cwd=tree, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        return [tree / name for name in listed if (tree / name).is_file()]
    skipped = LEFT_OUT | {".git", ".venv", "build"}
    return [
        path
        for path in tree.rglob("*")
        if path.is_file()
        and not any(
            part in skipped or part.endswith(".egg-info")
            for part in path.relative_to(tree).parts
        )
    ]


def mapped(text: str) -> list[str]:
    """The folders a map lists, in its order."""
    section = text.partition("What you get")[2] or text.partition("What is here")[2]
    table = section.partition("\n\n| folder |")[2].partition("\n\n")[0]
    return MAP_ROW.findall("| folder |" + table)


def test_the_readme_maps_this_tree() -> None:
    rows = mapped((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(rows) == len(set(rows)), f"a folder listed twice: {rows}"
    assert set(rows) == folders(ROOT), _difference(set(rows), folders(ROOT))


@pytest.mark.parametrize(
    "shape",
    [{}, {"hints": "contract"}, {"partC": True}],
    ids=["hints", "contract", "partC"],
)
def test_the_maps_of_the_students_copy_match_it(tmp_path: Path, shape: dict) -> None:
    out = tmp_path / "p0"
    build_handout(out, ruff_format=False, **shape)
    have = folders(out)
    for document in ("README.md", "HANDOUT.md"):
        rows = mapped((out / document).read_text(encoding="utf-8"))
        assert set(rows) == have, f"{document}: " + _difference(set(rows), have)


def _difference(listed: set[str], there: set[str]) -> str:
    return (
        f"listed but not there: {sorted(listed - there)}; "
        f"there but not listed: {sorted(there - listed)}"
    )


def test_a_map_row_that_is_cut_for_students_is_on_a_line_of_its_own() -> None:
    """Region markers work on whole lines: one inside a row would show the
    instructor's words to students."""
    for document in ("README.md", "HANDOUT.md"):
        for line in (ROOT / document).read_text(encoding="utf-8").splitlines():
            if line.startswith("| `"):
                assert "<!--" not in line, f"{document}: a marker inside {line[:60]}"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    student = cut_regions(text, "README.md", frozenset({"HINTS", "NOPARTC"}))
    assert "grading/proof/" not in mapped(student)


# ----- imports ---------------------------------------------------------------------


def modules() -> dict[str, Path]:
    """The kit's modules, by dotted name (evidence left out)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if any(relative.as_posix().startswith(f) for f in EVIDENCE):
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> tuple[set[str], set[str]]:
    """The kit modules ``name`` imports (at any depth of its code), and the
    private names of other modules it uses ("partA.server._Client")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported, private, aliases = set(), set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in known:  # a module: "from grading.submission import grade"
                    imported.add(full)
                    aliases[alias.asname or alias.name] = full
                elif node.module in known:
                    imported.add(node.module)
                    if _private(alias.name):
                        private.add(full)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    imported.add(alias.name)
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ):
            private.add(f"{aliases[node.value.id]}.{node.attr}")
    imported.discard(name)
    return imported, {p for p in private if not p.startswith(name + ".")}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_import_circle() -> None:
    known = modules()
    graph = {name: imports(name, path, known)[0] for name, path in known.items()}
    circles = _circles(graph)
    assert not circles, "modules that import each other, round and round: " + "; ".join(
        " -> ".join(circle) for circle in circles
    )


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of ``graph`` with more than one module
    (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


def test_no_module_uses_another_modules_private_names() -> None:
    known = modules()
    found = []
    for name, path in known.items():
        for used in sorted(imports(name, path, known)[1]):
            owner = used.rpartition(".")[0]
            allowed = [m for m, ref in REACHES_IN.items() if name.startswith(m)]
            if not any(REACHES_IN[m] == owner for m in allowed):
                found.append(f"{name} uses {used}")
    assert not found, "private names used from outside their module:\n" + "\n".join(
        found
    )


def test_the_private_name_finder_sees_both_ways_in(tmp_path: Path) -> None:
    known = {"pkg.a": Path(), "pkg.b": Path()}
    path = tmp_path / "c.py"
    path.write_text("from pkg.a import _x\nfrom pkg import b\nb._y()\n")
    assert imports("pkg.c", path, known)[1] == {"pkg.a._x", "pkg.b._y"}
