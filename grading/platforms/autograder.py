"""``python -m grading autograder OUT.zip``: a Gradescope autograder bundle.

Theory of operation
-------------------
Gradescope builds one image per assignment from the bundle: it unzips it
into ``/autograder/source`` and runs ``setup.sh`` there, once, as root, with
the network. Then, for each submission, in a fresh container (0.5 vCPU and
768 MB by default), it puts the student's files in ``/autograder/submission``
and runs ``/autograder/run_autograder``, which must leave
``/autograder/results/results.json`` behind before Gradescope's timeout (10
minutes by default), or the student gets nothing at all.

The bundle holds, at its root:

* ``setup.sh``: finds the image's Python (3.10 or newer: Ubuntu 22.04, the
  default image, has 3.10.12) and installs, in the virtual environment
  ``/opt/p0-venv``, the kit's test tools at the versions pinned in
  ``REQUIREMENTS``, and the ruff that students install (``pinned_ruff``).
  On an image it cannot use (Ubuntu 20.04 or 18.04, whose Python is too
  old; an image with neither apt-get nor dnf) it stops, saying which image
  to choose, and Gradescope shows that the build failed.
* ``run_autograder``: runs ``python -m grading.platforms.autograder ROOT``
  (``run_gradescope`` below) under a wall clock ``STOP_BEFORE`` seconds
  short of the timeout in the settings (``[gradescope] timeout_seconds``),
  then checks that a valid ``results.json`` exists and, if not, writes one
  that says the grader failed. A results file is written whatever happens:
  a crash of the grader, of Python, or a timeout.
* the pristine kit (``kit_files``): the instructor tree, reference solutions,
  wheats, chaffs and all, partC when the settings grade it, and grading/
  without its own tests. The
  bundle goes to Gradescope only, never to students, and student code never
  sees it: ``setup.sh`` and ``run_gradescope`` close it to every user but
  root, and each sandboxed run hides it besides (see grading/submission/grade.py).

The grader's own deadline (``[runs] total_seconds``) ends every run at least
``DEADLINE_MARGIN`` seconds before the timeout, so that a submission that
hangs still gets its partial scores; ``build_bundle`` refuses settings that
would not. A submission that eats the container's memory is the process the
kernel kills (grading/submission/sandbox.py), not the grader.

What the student reads is the results' ``output`` and the tests; what the
staff need (how each run was contained, the grader's own faults) goes to
``extra_data`` and to run_autograder's stdout, which Gradescope shows to the
staff only. A grader fault is never the student's: the report says "NOT
GRADED" and run_autograder exits with status 1, which Gradescope records as
an autograder error for the staff to re-run.

``AUTOGRADER_ROOT`` (default ``/autograder``) moves the whole layout, so the
bundle can be tried locally on a folder shaped like ``/autograder``;
``AUTOGRADER_PYTHON`` names the Python to use. ``tools/gradescope-image``
tries it on an Ubuntu 22.04 root file system, as Gradescope runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import stat
import sys
import traceback
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from grading.platforms.entry import grade_and_write

if TYPE_CHECKING:  # imported where used: grading must not need them to fail well
    from grading.submission.report import GradeReport
    from grading.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = [  # the versions the kit is tested with (and ruff: see requirements)
    "pytest==9.0.3",
    "pytest-timeout==2.4.0",
    "pytest-xdist==3.8.0",
    "hypothesis==6.155.2",  # partC's test_serial_model
    "tomli==2.4.0; python_version < '3.11'",  # grading/settings.py on 3.10
]
VENV = "/opt/p0-venv"
MIN_PYTHON = (3, 10)
STOP_BEFORE = 30  # seconds before Gradescope's timeout that run_autograder stops
DEADLINE_MARGIN = 60  # seconds before it that the grader's own deadline must fall

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, to build the image.
# It needs a Python of @MIN_PYTHON@ or newer: Gradescope's Ubuntu 22.04 image
# (the default: 3.10) or Fedora images with one. Elsewhere it stops, saying
# why, and the image is not built.
set -euo pipefail
say() { echo "setup.sh: $*"; }
fail() { echo "setup.sh: $*" >&2; exit 1; }

install() {  # packages, with the package manager this image has
    if command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@"
    elif command -v dnf >/dev/null; then
        dnf install -y -q "$@"
    else
        fail "this image has neither apt-get nor dnf:" \
            "choose Gradescope's Ubuntu 22.04 image"
    fi
}

new_enough() {  # a final release (not 22.04's python3.11 3.11.0rc1) that will do
    "$1" -c 'import sys; v = sys.version_info
sys.exit(v < @MIN_TUPLE@ or v.releaselevel != "final")' 2>/dev/null
}

if command -v apt-get >/dev/null; then
    install ca-certificates iproute2 util-linux python3
else
    install ca-certificates iproute util-linux python3
fi
PY=""
for candidate in python3 python3.14 python3.13 python3.12 python3.11 python3.10; do
    if command -v "$candidate" >/dev/null && new_enough "$candidate"; then
        PY=$(command -v "$candidate")
        break
    fi
done
if [ -z "$PY" ]; then
    found=$(python3 --version 2>&1 || echo "no python3")
    fail "this image's Python is too old ($found): the kit needs @MIN_PYTHON@" \
        "or newer. Choose Gradescope's Ubuntu 22.04 image (Python 3.10)."
fi
say "using $PY ($("$PY" --version 2>&1))"
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    install "$(basename "$PY")-venv"  # Debian and Ubuntu ship venv apart
fi
rm -rf @VENV@
"$PY" -m venv @VENV@
@VENV@/bin/python -m pip install -q --no-cache-dir --upgrade pip
@VENV@/bin/python -m pip install -q --no-cache-dir @REQUIREMENTS@
@VENV@/bin/python -c 'import pytest, pytest_timeout, xdist, hypothesis'
@VENV@/bin/python -m ruff --version
# Student code runs as a user of its own, which must not read the kit (the
# reference solutions, the chaffs): only root may. The grader copies out what
# each sandboxed run needs.
chmod -R go-rwx /autograder/source
say "the kit is ready"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission. It grades $ROOT/submission into
# $ROOT/results/results.json, and always leaves a valid results.json there,
# even when grading itself fails. Exit status: 0 if the submission was graded
# (or refused, saying why); 1 if the grader failed, which is never the
# student's fault, and says so to Gradescope.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
PYTHON="${AUTOGRADER_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x @VENV@/bin/python ]; then PYTHON=@VENV@/bin/python; else PYTHON=python3; fi
fi
export PATH="@VENV@/bin:$PATH"  # ruff and pytest, where setup.sh put them
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# Stop before Gradescope's own timeout (@TIMEOUT@ s, as the settings say),
# which would leave the student with nothing at all.
cd "$ROOT/source" &&
    PYTHONPATH="$ROOT/source" \
    timeout --kill-after=10 "${AUTOGRADER_TIMEOUT:-@STOP@}" \
    "$PYTHON" -m grading.platforms.autograder "$ROOT"
status=$?
if ! "$PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$RESULTS" \
    >/dev/null 2>&1; then
    echo "run_autograder: no valid results.json (status $status); writing one"
    cat >"$RESULTS" <<EOF
{"score": 0, "output": "NOT GRADED: the autograder failed before it could grade \
this submission (status $status). This is not your grade: tell the course staff.", \
"output_format": "text", "extra_data": {"status": "grader failed"}, \
"tests": [{"name": "Autograder", "score": 0, "max_score": 0, "status": "failed", \
"output": "The grader stopped with status $status."}]}
EOF
    exit 1
fi
[ "$status" = 0 ] || exit 1
"""


# Building the bundle.


def requirements(source: Path = ROOT) -> list[str]:
    """What the grader installs: ``REQUIREMENTS`` and the students' ruff."""
    # Not at the top, as every import of the settings here: on a machine
    # without the grader's tools (tomli on 3.10), loading this module must
    # still work, so that the grader can say it is missing them.
    from grading.settings import pinned_ruff

    return [*REQUIREMENTS, pinned_ruff(source)]


def build_bundle(
    out: Path,
    source: Path = ROOT,
    settings: Settings | None = None,
    settings_file: Path | None = None,
) -> list[str]:
    """Write the bundle to ``out`` (a .zip); return the names it holds.

    ``settings_file``: the settings the bundle grades by (it goes in as
    ``grading/settings.toml``; default: the kit's). Raises ``SettingsError``
    if they name a test the kit does not have, or if the grader's deadline
    would not leave ``DEADLINE_MARGIN`` seconds before Gradescope's timeout.
    """
    from grading.settings import SettingsError, load_settings

    settings_file = settings_file or source / "grading" / "settings.toml"
    settings = settings or load_settings(settings_file)
    timeout = settings.gradescope.timeout_seconds
    if settings.runs.total_seconds > timeout - DEADLINE_MARGIN:
        raise SettingsError(
            f"runs.total_seconds ({settings.runs.total_seconds:g}) must end "
            f"{DEADLINE_MARGIN} s before gradescope.timeout_seconds ({timeout:g}): "
            f"at most {timeout - DEADLINE_MARGIN:g}"
        )
    values = {
        "@VENV@": VENV,
        "@REQUIREMENTS@": " ".join(f'"{r}"' for r in requirements(source)),
        "@MIN_PYTHON@": ".".join(map(str, MIN_PYTHON)),
        "@MIN_TUPLE@": repr(MIN_PYTHON),
        "@TIMEOUT@": f"{timeout:g}",
        "@STOP@": f"{timeout - STOP_BEFORE:g}",
    }
    scripts = {
        "setup.sh": _fill(SETUP_SH, values),
        "run_autograder": _fill(RUN_AUTOGRADER, values),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        for path in kit_files(source, settings.partC.enabled):
            name = path.relative_to(source).as_posix()
            if name == "grading/settings.toml":
                path = settings_file
            bundle.write(path, name)
        return bundle.namelist()


def _fill(template: str, values: dict[str, str]) -> str:
    """The template with each ``@NAME@`` replaced; none may be left."""
    for name, value in values.items():
        template = template.replace(name, value)
    assert "@" not in template.replace("$@", ""), "a value is missing"
    return template


def kit_files(source: Path, partC: bool = True) -> list[Path]:
    """The pristine kit: what students get, partC when the settings grade it,
    and grading/ without its own tests."""
    from grading.student_edition.handout import (
        HINTS_FILES,
        LEFT_OUT,
        PARTC_FILES,
        SHIPPED,
    )

    files: list[Path] = []
    items = [*SHIPPED, *(PARTC_FILES if partC else []), *HINTS_FILES, "grading"]
    for item in items:
        path = source / item
        if path.is_file():
            files.append(path)
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"the kit has no {item}: {path}")
        files += sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and not LEFT_OUT & set(p.relative_to(source).parts)
            and p.suffix != ".pyc"
            and not _left_out(p.relative_to(source), partC)
        )
    return list(dict.fromkeys(files))  # a file of PARTC_FILES is in runners too


def _left_out(relative: Path, partC: bool) -> bool:
    """The grader's own tests, and partC's files when partC is not graded."""
    from grading.student_edition.handout import PARTC_FILES

    if relative.parts[:2] == ("grading", "tests"):
        return True
    return not partC and any(relative.match(f) for f in PARTC_FILES)


# Grading on Gradescope (what run_autograder calls).


def run_gradescope(root: Path) -> int:
    """Grade ``root``/submission into ``root``/results/results.json.

    Never raises: if grading fails, the results say so, with the traceback
    for the staff. Prints what the staff should know (run_autograder's
    stdout is theirs). Returns 0 if the submission was graded or refused,
    1 if the grader failed.
    """
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # student code runs as another user
        (root / "source").chmod(0o700)

    def write(report: GradeReport) -> None:
        from grading.platforms.gradescope import write_results

        write_results(report, results)

    return grade_and_write(
        root / "submission",
        write,
        lambda trace, seconds: _write_failure(results, trace, seconds),
    )


def _write_failure(results: Path, trace: str, seconds: float) -> None:
    """The grader could not even make a report: say so, as plainly as we can."""
    try:
        from grading.platforms.gradescope import grader_failed, write_json

        why = trace.strip().splitlines()[-1] if trace.strip() else "unknown"
        report = grader_failed(f"the grader crashed ({why})", trace, seconds)
        write_json(report, results)
    except BaseException:  # our own modules are broken: run_autograder writes it
        print(traceback.format_exc())


# The command line.


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``autograder`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "autograder",
        help="build a Gradescope autograder bundle (setup.sh, run_autograder, kit)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("out", type=Path, help="the bundle to write, e.g. p0.zip")
    from grading.settings import add_option

    add_option(
        parser,
        help="the settings the bundle grades by (default: "
        "grading/settings.toml); a bad one is refused, with its key, "
        "file and line",
    )
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    if args.out.suffix != ".zip":
        print(f"autograder: {args.out} should end in .zip", file=sys.stderr)
        return 2
    from grading.settings import SettingsError, load_for

    settings = load_for("autograder", args.settings)
    if settings is None:
        return 2
    try:
        names = build_bundle(args.out, settings=settings, settings_file=args.settings)
    except SettingsError as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2
    print(f"autograder: wrote {args.out} ({len(names)} files)")
    print("Upload it as the assignment's autograder (Configure Autograder > Zip")
    print("file upload; base image Ubuntu 22.04, Gradescope's default). Set the")
    print("autograder timeout to gradescope.timeout_seconds of the settings.")
    print("It is private: never give it out.")
    return 0


if __name__ == "__main__":
    sys.exit(run_gradescope(Path(sys.argv[1])))
