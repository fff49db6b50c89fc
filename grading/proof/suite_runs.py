"""Run one suite file against a broken server, the way the proof tests do.

``test_server_mutants.py`` and ``test_partc_mutants.py`` share this: a fresh
pytest process per run, short deadlines so hung servers fail fast, and the
option that names the server class of each part.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
SERVER_OPTION = {"partA": "--server", "partC": "--partc-server"}


def run_suite(
    server: str,
    suite: str | list[str],
    part: str = "partA",
    env: dict[str, str] | None = None,
    select: str | None = None,
    stop: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one suite file of ``part`` (or several) against ``server``
    (module:Class), in a fresh pytest process with short deadlines (or
    ``env``'s); stop at the first failure unless not ``stop``. ``select``: a
    ``-k`` expression."""
    env = os.environ | (env or {"KV_REPLY_TIMEOUT": "4", "KV_CALL_TIMEOUT": "3"})
    suites = [suite] if isinstance(suite, str) else suite
    command = [
        sys.executable, "-m", "pytest", *(f"{part}/{s}" for s in suites),
        *(["-x"] if stop else []), "-q",
        "-p", "no:cacheprovider", "-p", "no:xdist", SERVER_OPTION[part], server,
        *(["-k", select] if select else []),
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
