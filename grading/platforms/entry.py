"""What a platform's entry point does: grade one submission, print the grade
table for the staff, write the platform's results, and never raise.

``grade_and_write(submission, write, write_crash)`` is the whole of it for
Gradescope (``autograder.run_gradescope``) and PrairieLearn
(``prairielearn.run_prairielearn``): each gives its own writers. Only the
standard library is imported here; the grader's modules are imported inside
the ``try``, so a grader that cannot even import them (tomli missing on
Python 3.10) still writes a result that says so.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grading.submission.report import GradeReport


def grade_and_write(
    submission: Path,
    write: Callable[[GradeReport], None],
    write_crash: Callable[[str, float], None],
) -> int:
    """Grade ``submission`` and ``write`` its report; if anything fails, print
    the traceback and ``write_crash(traceback, seconds)`` instead.

    Returns 0 if the submission was graded or refused, 1 if the grader failed
    (then the platform shows the run as failed, and the staff look).
    """
    started = time.monotonic()
    try:
        from grading.submission.grade import grade_submission
        from grading.submission.report import GRADER_FAILED, table

        report = grade_submission(submission)
        print(table(report))
        write(report)
    except BaseException:  # even SystemExit or KeyboardInterrupt: report it
        trace = traceback.format_exc()
        print(trace)
        write_crash(trace, time.monotonic() - started)
        return 1
    return 1 if report.status == GRADER_FAILED else 0
