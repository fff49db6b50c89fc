"""``python -m grading prairielearn OUT``: the grader as a PrairieLearn external grader.

Theory of operation
-------------------
PrairieLearn grades a question's submission in a Docker container of the
course's choosing (its "external grader"): it copies the files the student
uploaded to ``/grade/student``, the course's shared files to
``/grade/serverFilesCourse``, runs the question's entrypoint, and reads
``/grade/results/results.json``: ``score`` from 0 to 1, ``gradable``,
``tests`` with ``points``, ``max_points``, ``message`` and ``output``, at
most 1 MB. Networking is off, and the job is killed at the question's
``timeout`` (600 s at most).

``OUT`` gets what a course needs, laid out as a course repository is:

* ``serverFilesCourse/p0_grader/``: the pristine kit (as in the Gradescope
  bundle: the reference solutions, wheats and chaffs, so never give it to
  students) and ``run.sh``, the entrypoint, which runs ``python -m
  grading.platforms.prairielearn /grade`` (``run_prairielearn`` below) under a wall
  clock and writes a results file of its own if the grader left none.
* ``questions/p0/``: ``info.json``, with the ``externalGradingOptions``
  block (image, entrypoint, timeout), and ``question.html``, where the
  student uploads ``server.py`` and ``test_squarer.py``.
* ``image/Dockerfile``: the grading image, PrairieLearn's Python grader with
  the kit's test tools at the pinned versions (``autograder.requirements()``):
  build it, push it where PrairieLearn pulls from, and name it with
  ``--image``.

The results come from the same ``GradeReport`` as Gradescope's
(grading/submission/report.py). A submission that could not be graded at all (refused:
no files, a bad zip) or that the grader failed to grade is ``"gradable":
false``: PrairieLearn then takes no points and no attempt from the student,
and shows ``format_errors``. ``PRAIRIELEARN_ROOT`` is not needed: the root
is the entrypoint's argument.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import uuid
from typing import TYPE_CHECKING
from pathlib import Path

from grading.platforms.autograder import ROOT, kit_files, requirements
from grading.platforms.entry import grade_and_write
from grading.platforms.gradescope import write_json
from grading.submission.report import GRADED, GRADER_FAILED, REFUSED, STAFF, GradeReport

if TYPE_CHECKING:  # imported where used: grading must not need it to fail well
    from grading.settings import Settings

IMAGE = "prairielearn/grader-python"
GRADER = "p0_grader"  # its folder in serverFilesCourse
MAX_BYTES = 1_000_000  # PrairieLearn's limit on results.json
MAX_TIMEOUT = 600  # PrairieLearn's longest timeout
STOP_BEFORE = 30  # seconds before the timeout that run.sh stops the grader

RUN_SH = r"""#!/usr/bin/env bash
# PrairieLearn runs this for each submission: it grades /grade/student into
# /grade/results/results.json, and always leaves one there.
set -u
ROOT="${1:-/grade}"
KIT="$(cd "$(dirname "$0")" && pwd)"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
chmod -R go-rwx "$KIT" 2>/dev/null  # student code runs as another user
cd "$KIT" && PYTHONPATH="$KIT" timeout --kill-after=10 @STOP@ \
    python3 -m grading.platforms.prairielearn "$ROOT"
status=$?
if ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$RESULTS" \
    >/dev/null 2>&1; then
    echo "run.sh: no valid results.json (status $status); writing one"
    cat >"$RESULTS" <<EOF
{"gradable": false, "score": 0, "format_errors": ["NOT GRADED: the grader \
stopped with status $status before it could grade this submission. This is not \
your grade and costs no attempt: tell the course staff."], "tests": []}
EOF
fi
"""

QUESTION_HTML = """\
<pl-question-panel>
  <p>Upload your <code>partA/server.py</code> and <code>partB/test_squarer.py</code>
  (the two files of the P0 handout). They are graded as on your own machine with
  <code>python -m pytest</code>: partA's TestBasic, TestCount and TestSlowClient,
  and your squarer tests against correct and buggy squarers.</p>
  <pl-file-upload file-names="server.py, test_squarer.py"></pl-file-upload>
</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""

DOCKERFILE = """\
# The grading image: PrairieLearn's Python grader and the kit's test tools.
# Build it, push it where PrairieLearn pulls images from, and give its name
# to `python -m grading prairielearn OUT --image NAME`.
FROM {image}
RUN python3 -m pip install --no-cache-dir {requirements}
"""


# Writing the course files.


def build_course(
    out: Path,
    image: str = IMAGE,
    settings: Settings | None = None,
    settings_file: Path | None = None,
) -> None:
    """Write the grader, the question and the image's Dockerfile under ``out``.

    ``settings_file``: the settings the grader grades by (it goes in as its
    ``grading/settings.toml``; default: the kit's).
    """
    from grading.settings import DEFAULT_PATH, load_settings

    settings_file = settings_file or DEFAULT_PATH
    settings = settings or load_settings(settings_file)
    timeout = min(MAX_TIMEOUT, settings.gradescope.timeout_seconds)
    grader = out / "serverFilesCourse" / GRADER
    shutil.rmtree(grader, ignore_errors=True)
    for path in kit_files(ROOT, settings.partC.enabled):
        target = grader / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copyfile(settings_file, grader / "grading" / "settings.toml")
    run_sh = grader / "run.sh"
    run_sh.write_text(RUN_SH.replace("@STOP@", f"{timeout - STOP_BEFORE:g}"))
    run_sh.chmod(0o755)
    question = out / "questions" / "p0"
    question.mkdir(parents=True, exist_ok=True)
    (question / "info.json").write_text(json.dumps(info(image, timeout), indent=2))
    (question / "question.html").write_text(QUESTION_HTML)
    dockerfile = out / "image" / "Dockerfile"
    dockerfile.parent.mkdir(parents=True, exist_ok=True)
    pinned = " ".join(f'"{r}"' for r in requirements())
    dockerfile.write_text(DOCKERFILE.format(image=IMAGE, requirements=pinned))


QUESTION_NAME = "p0-python-kit/questions/p0"  # the question's uuid is made from it


def info(image: str, timeout: float) -> dict:
    """The question's info.json, with its external grading block."""
    return {
        # the same on every export, so that re-exporting updates the question
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, QUESTION_NAME)),
        "title": "P0: a key-value server, and tests for a squarer",
        "topic": "Concurrency",
        "tags": ["p0"],
        "type": "v3",
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "serverFilesCourse": [f"{GRADER}/"],
            "entrypoint": f"/grade/serverFilesCourse/{GRADER}/run.sh",
            "timeout": int(timeout),
        },
    }


# The results.


def results(report: GradeReport) -> dict:
    """The report as PrairieLearn's results.json object."""
    gradable = report.status == GRADED
    data: dict = {
        "gradable": gradable,
        "score": _fraction(report.score, report.max_score) if gradable else 0,
        "message": _first_line(report.output),
        "output": report.output,
        "tests": [
            {
                "name": test.name,
                "description": f"{test.number}: {test.name}",
                "points": round(test.score, 2),
                "max_points": test.max_score,
                "message": _first_line(test.output),
                "output": test.output,
            }
            for test in report.tests
        ],
    }
    if report.status == REFUSED:
        data["format_errors"] = [report.output]
    elif report.status == GRADER_FAILED:
        data["format_errors"] = [
            f"NOT GRADED: the grader failed. This is not your grade and costs no "
            f"attempt: {STAFF}."
        ]
    return _within_limit(data)


def _first_line(text: str) -> str:
    return text.splitlines()[0][:300] if text else ""


def _fraction(score: float, maximum: float) -> float:
    return round(min(max(score / maximum, 0.0), 1.0), 4) if maximum else 0.0


def _within_limit(data: dict) -> dict:
    """Cut the longest outputs until the file is under PrairieLearn's 1 MB."""
    for _ in range(100):  # each turn halves one output: enough for any size
        if len(json.dumps(data).encode()) <= MAX_BYTES:
            break
        longest = max(data["tests"] + [data], key=lambda item: len(item["output"]))
        text = longest["output"]
        longest["output"] = text[: len(text) // 2] + "\n[... cut: too long ...]"
    return data


def run_prairielearn(root: Path) -> int:
    """Grade ``root``/student into ``root``/results/results.json; never raises.

    Prints the grade table and what the staff should know (PrairieLearn keeps
    the grader's output for them). Returns 1 if the grader failed, else 0.
    """
    path = root / "results" / "results.json"

    def write_crash(trace: str, seconds: float) -> None:
        write_json(
            {
                "gradable": False,
                "score": 0,
                "format_errors": [
                    f"NOT GRADED: the grader crashed after {seconds:.0f} s. This "
                    f"is not your grade and costs no attempt: {STAFF}."
                ],
                "output": trace[-5000:],
                "tests": [],
            },
            path,
        )

    return grade_and_write(
        root / "student", lambda report: write_json(results(report), path), write_crash
    )


# The command line.


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``prairielearn`` verb to ``python -m grading``."""
    parser = verbs.add_parser(
        "prairielearn",
        help="write the grader as a PrairieLearn external grader (course files)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("out", type=Path, help="a folder for the course files")
    parser.add_argument(
        "--image",
        default=IMAGE,
        help="the grading image for info.json, built from image/Dockerfile "
        "(default: %(default)s, which lacks the kit's test tools)",
    )
    from grading.settings import add_option

    add_option(parser)
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from grading.settings import load_for

    settings = load_for("prairielearn", args.settings)
    if settings is None:
        return 2
    build_course(args.out, args.image, settings, args.settings)
    print(f"prairielearn: wrote {args.out}")
    print("  serverFilesCourse/p0_grader/: copy into the course's serverFilesCourse")
    print("  questions/p0/: the question (info.json, question.html)")
    print("  image/Dockerfile: build and push the grading image, then pass --image")
    print("The grader holds the reference solutions: never give it to students.")
    return 0


if __name__ == "__main__":
    sys.exit(run_prairielearn(Path(sys.argv[1])))
