"""What the two runners share: where the server is, and how to say it."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9999
KIT = Path(__file__).resolve().parent.parent  # the folder that holds partA/


def partc_ships() -> bool:
    """Does this copy of the kit hold partC? (A student's has it only when the
    course hands partC out.)"""
    return (KIT / "partC" / "server.py").is_file()


def port_number(text: str) -> int:
    """Parse a TCP port number; argparse turns the ValueError into a message."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def add_address_options(parser: argparse.ArgumentParser, port_help: str) -> None:
    """Add ``--host`` and ``--port`` (with ``port_help``) to ``parser``."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=port_help
    )
