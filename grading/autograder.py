"""``python -m grading autograder OUT.zip``: a Gradescope autograder bundle.

Theory of operation
-------------------
Gradescope builds one image per assignment from the bundle: it unzips it
into ``/autograder/source`` and runs ``setup.sh`` there, once. Then, for
each submission, in a fresh container, it puts the student's files in
``/autograder/submission`` and runs ``/autograder/run_autograder``, which
must leave ``/autograder/results/results.json`` behind.

The bundle holds, at its root:

* ``setup.sh``: installs a Python 3.11 or newer (the image's own if it is
  new enough, else Ubuntu's ``python3.11``) and, in the virtual environment
  ``/opt/p0-venv``, the kit's test tools at the versions pinned in
  ``REQUIREMENTS``.
* ``run_autograder``: a shell script that runs ``python -m
  grading.autograder ROOT`` (``run_gradescope`` below) under a wall clock,
  then checks that a valid ``results.json`` exists and, if not, writes one
  that says the grader failed. A results file is written whatever happens:
  a crash of the grader, of Python, or a timeout.
* the pristine kit (``KIT``): the instructor tree, reference solutions,
  wheats, chaffs and all. The bundle goes to Gradescope only, never to
  students, and student code never sees it: ``setup.sh`` and
  ``run_gradescope`` close it to every user but root, and each sandboxed run
  hides it besides (see grading/grade.py).

``AUTOGRADER_ROOT`` (default ``/autograder``) moves the whole layout, so the
bundle can be tried locally on a folder shaped like ``/autograder``;
``AUTOGRADER_PYTHON`` names the Python to use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import stat
import sys
import time
import traceback
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = ["pyproject.toml", "README.md", "partA", "partB", "runners", "grading"]
LEFT_OUT = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
REQUIREMENTS = [  # the versions the kit is tested with
    "pytest==9.0.3",
    "pytest-timeout==2.4.0",
    "pytest-xdist==3.8.0",
    "ruff==0.17.6",
]
VENV = "/opt/p0-venv"

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, in /autograder/source, to build the image.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends iproute2 util-linux
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PY="$candidate"
        break
    fi
done
if [ -z "$PY" ]; then  # Ubuntu 22.04 ships 3.10; its python3.11 will do
    apt-get install -y --no-install-recommends python3.11
    PY=python3.11
fi
apt-get install -y --no-install-recommends "$PY-venv"
"$PY" -m venv {venv}
{venv}/bin/python -m pip install --no-cache-dir --upgrade pip
{venv}/bin/python -m pip install --no-cache-dir {requirements}
{venv}/bin/python -c 'import pytest, pytest_timeout, xdist; print("kit ready")'
{venv}/bin/ruff --version
# Student code runs as a user of its own, which must not read the kit (the
# reference solutions, the chaffs): only root may. The grader copies out what
# each sandboxed run needs.
chmod -R go-rwx /autograder/source
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission. It grades
# $ROOT/submission into $ROOT/results/results.json, and always leaves a
# valid results.json there, even when grading itself fails.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
PYTHON="${AUTOGRADER_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x {venv}/bin/python ]; then PYTHON={venv}/bin/python; else PYTHON=python3; fi
fi
export PATH="{venv}/bin:$PATH"  # ruff and pytest, where setup.sh put them
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# Stop before Gradescope's own limit (10 minutes by default), which would
# leave the student with nothing at all.
cd "$ROOT/source" &&
    PYTHONPATH="$ROOT/source" \\
    timeout --kill-after=10 "${AUTOGRADER_TIMEOUT:-540}" \\
    "$PYTHON" -m grading.autograder "$ROOT"
status=$?
if ! "$PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$RESULTS" \\
    >/dev/null 2>&1; then
    echo "run_autograder: no valid results.json (status $status); writing one"
    cat >"$RESULTS" <<EOF
{"score": 0, "output": "The autograder failed before it could grade this \\
submission (status $status). This is not a grade: please tell the course \\
staff.", "tests": [{"name": "Autograder", "score": 0, "max_score": 0, \\
"status": "failed", "output": "The grader stopped with status $status."}]}
EOF
fi
exit 0
"""


# Building the bundle.


def build_bundle(out: Path, source: Path = ROOT) -> list[str]:
    """Write the bundle to ``out`` (a .zip); return the names it holds."""
    venv = {"{venv}": VENV, "{requirements}": " ".join(REQUIREMENTS)}
    scripts = {
        "setup.sh": _fill(SETUP_SH, venv),
        "run_autograder": _fill(RUN_AUTOGRADER, venv),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        for path in _kit_files(source):
            bundle.write(path, path.relative_to(source).as_posix())
        return bundle.namelist()


def _fill(template: str, values: dict[str, str]) -> str:
    """The template with each ``{name}`` replaced (it holds other braces)."""
    for name, value in values.items():
        template = template.replace(name, value)
    return template


def _kit_files(source: Path) -> list[Path]:
    files = []
    for item in KIT:
        path = source / item
        if path.is_file():
            files.append(path)
            continue
        files += sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and not LEFT_OUT & set(p.relative_to(source).parts)
            and p.suffix != ".pyc"
        )
    return files


# Grading on Gradescope (what run_autograder calls).


def run_gradescope(root: Path) -> int:
    """Grade ``root``/submission into ``root``/results/results.json.

    Never raises: if grading fails, the results say so, with the traceback
    for the staff. Returns 0 if the submission was graded, 1 if not.
    """
    started = time.monotonic()
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # student code runs as another user
        (root / "source").chmod(0o700)
    try:
        from grading.grade import grade_submission, write_results

        write_results(grade_submission(root / "submission"), results)
    except BaseException:  # even SystemExit or KeyboardInterrupt: report it
        trace = traceback.format_exc()
        print(trace, file=sys.stderr)
        _write_failure(results, trace, time.monotonic() - started)
        return 1
    return 0


def _write_failure(results: Path, trace: str, seconds: float) -> None:
    report = {
        "score": 0,
        "execution_time": round(seconds, 2),
        "output": "The autograder failed before it could grade this submission. "
        "This is not a grade: please tell the course staff.",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": "Autograder",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": trace[-5000:],
                "visibility": "hidden",
            }
        ],
    }
    results.write_text(json.dumps(report, indent=2))


# The command line.


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``autograder`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "autograder",
        help="build a Gradescope autograder bundle (setup.sh, run_autograder, kit)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("out", type=Path, help="the bundle to write, e.g. p0.zip")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    if args.out.suffix != ".zip":
        print(f"autograder: {args.out} should end in .zip", file=sys.stderr)
        return 2
    names = build_bundle(args.out)
    print(f"autograder: wrote {args.out} ({len(names)} files)")
    print("Upload it as the assignment's autograder (Configure Autograder > Zip")
    print("file upload, Ubuntu 22.04 or newer). It is private: never give it out.")
    return 0


if __name__ == "__main__":
    sys.exit(run_gradescope(Path(sys.argv[1])))
