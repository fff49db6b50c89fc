"""``python -m grading VERB``: the instructor's tools (DESIGN.md, "grading/").

Each verb lives in a module of its own, which adds itself to the parser
with ``register(verbs)`` and handles its arguments with ``args.handler``.
"""

import argparse
import sys

from grading import squarer_tests
from grading.classroom import batch
from grading.platforms import autograder, prairielearn
from grading.proof import selfcheck
from grading.student_edition import handout
from grading.submission import grade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grading", description="The P0 kit's instructor tools."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    handout.register(verbs)
    squarer_tests.register(verbs)
    grade.register(verbs)
    batch.register(verbs)
    autograder.register(verbs)
    prairielearn.register(verbs)
    selfcheck.register(verbs)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
