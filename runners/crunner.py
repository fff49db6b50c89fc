"""An interactive client for the key-value server.

Usage: ``python runners/crunner.py [--host 127.0.0.1] [--port 9999]``.
Type requests (``help`` lists them); replies print as they arrive. With
piped input (``crunner < requests.txt``) it sends every line, prints every
reply, and exits.
.. BEGIN PARTC

With partC's server, at a terminal, notifications (``Changed:<op>:<key>``,
sent when another client changes something after you ``Subscribe``) are
marked with ``*`` and shown in their own colour, as soon as they arrive;
errors (``Error:...``, ``Aborted:...``) are red. Piped output is every line
exactly as received.
.. END PARTC

Theory of operation
-------------------
Two threads share one socket. The main thread reads lines from stdin and
sends them; the ``replies`` thread reads the socket and prints each reply
line as it comes. They never wait for each other, so a reply is shown even
while you are typing, and replies are taken as fast as the server sends them.
Even so, the server keeps at most ``MAX_OUTBOX`` (500) replies waiting for
one client and drops the rest (the classic slow-client rule): a script that
sends more than 500 Gets' worth of replies in one burst gets fewer back.

The protocol has no "end of replies" marker. So the client ends the way the
server can understand: it shuts down the sending half of the socket, which
the server reads as end of stream. The server then sends the replies it has
queued and closes the connection, and the ``replies`` thread ends at that
clean end of stream. Three endings are told apart:

* we ended it (``quit``, Ctrl-D, end of piped input): wait for the replies
  as above; exit code 0.
  Ctrl-C at the prompt does the same; Ctrl-C while waiting stops waiting;
* the server ended the connection first, or reset it: the ``replies``
  thread wakes the main thread (blocked reading stdin) with a SIGINT sent to
  it alone, where the system can; exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

# Run as a script, Python puts runners/ on sys.path, not the folder above it;
# this line makes ``import runners`` work from any directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runners.cli import add_address_options, partc_ships

try:  # line editing and history, where the platform has them
    import readline
except ImportError:  # Windows, or a Python built without it
    readline = None

CONNECT_TIMEOUT = 5.0  # seconds
PROMPT = "kv> "

HELP_REQUESTS = """\
Requests (keys and values may not contain ':'):
  Put:key:value        append value to the key's list (no reply)
  Get:key              reply one line key:value per stored value, in order
                       (no reply if the key is absent)
  Delete:key           remove the key and all its values (no reply)
  Update:key:old:new   remove the first value equal to old, if any, and
                       append new; if the key is absent, it now holds new
                       (no reply)"""

HELP_PARTC = """\
partC's server also takes (each answered by one line, or as said):
  List                 every key:value, keys sorted, then End:List
  Subscribe            Subscribed; then a Changed:<op>:<key> line for every
                       change another client makes (shown marked with *)
  Unsubscribe          Unsubscribed; no more notifications
  Begin                Begun: start a transaction (your changes stay
                       invisible to others until Commit)
  Commit               Committed, or Aborted:<reason> if another client
                       changed what the transaction read
  Rollback             RolledBack: the transaction's changes are discarded
  Ping                 Pong: every reply before it has arrived
  (a bad request gets one Error:<reason> line)"""

HELP_CLIENT = """\
Client commands:
  help                 show this help
  quit                 leave (Ctrl-D too)"""

# partC's requests are listed only where the kit holds partC.
HELP = "\n".join(
    [HELP_REQUESTS, HELP_PARTC, HELP_CLIENT]
    if partc_ships()
    else [HELP_REQUESTS, HELP_CLIENT]
)

NOTIFICATION = "Changed:"  # how a partC notification line starts
ERRORS = ("Error:", "Aborted:")  # partC replies that report a failure


class Colours:
    """ANSI colours, used only on a terminal and only if NO_COLOR is unset."""

    def __init__(self, stream: object) -> None:
        is_tty = getattr(stream, "isatty", lambda: False)()
        self.enabled = is_tty and "NO_COLOR" not in os.environ

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="crunner", description="Talk to the key-value server."
    )
    add_address_options(parser, port_help="default: %(default)s")
    return parser.parse_args(argv)


def fail(message: str) -> int:
    """Print ``message`` on stderr, in red on a terminal; return exit code 1."""
    print(Colours(sys.stderr).paint(f"crunner: {message}", "31"), file=sys.stderr)
    return 1


class Session:
    """One connection: the main thread sends, the ``replies`` thread prints.

    ``finishing`` is set by the main thread before it ends the connection;
    ``lost`` is set by the ``replies`` thread if the server went away first.
    """

    def __init__(self, conn: socket.socket, show: Callable[[str], None]) -> None:
        self.conn = conn
        self.show = show  # prints one reply line; called by the replies thread
        self.finishing = threading.Event()
        self.lost = threading.Event()
        self.replies = threading.Thread(target=self._receive, name="replies")

    def send(self, line: str) -> None:
        """Send one request line; raises ``OSError`` if the connection broke."""
        self.conn.sendall(line.encode(errors="surrogateescape") + b"\n")

    def _receive(self) -> None:
        try:
            with self.conn.makefile("rb") as stream:
                for line in stream:
                    self.show(line.rstrip(b"\r\n").decode("utf-8", "replace"))
        except OSError:  # a reset: replies may be missing, whoever ended it
            self.lost.set()
        if not self.finishing.is_set():  # the server ended it before we did
            self.lost.set()
            wake_main_thread()

    def finish(self) -> None:
        """End the connection and wait until every reply has been printed.

        Safe to call again, for example after a Ctrl-C interrupted it; a
        second call stops waiting for the server.
        """
        if self.finishing.is_set():
            _shutdown(self.conn, socket.SHUT_RDWR)  # stop waiting: end it now
        self.finishing.set()
        _shutdown(self.conn, socket.SHUT_WR)  # the server reads end of stream
        self.replies.join()
        self.conn.close()


def _shutdown(conn: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):  # already shut down, or reset
        conn.shutdown(how)


def wake_main_thread() -> None:
    """Interrupt the main thread's blocking read of stdin with a SIGINT.

    Sent to the main thread alone, so that its read is interrupted. Where
    that is not possible (Windows), the main thread notices at its next line.
    """
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


class PipedConsole:
    """Requests from piped stdin; each reply printed as one plain line."""

    def read_line(self) -> str | None:
        """Return the next line, without its end, or None at end of input.

        Bytes that are not UTF-8 are kept as they are (surrogateescape), so
        that ``send`` passes them on unchanged: bad input is worth a demo.
        """
        line = sys.stdin.buffer.readline().decode(errors="surrogateescape")
        return line.rstrip("\r\n") if line else None

    def show(self, text: str) -> None:
        """Print the reply ``text`` as one line; called by the replies thread."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


class TerminalConsole:
    """A prompt with line editing; replies are printed above the prompt.

    A reply may arrive while you are typing. Then it is printed over the
    prompt's line, and the prompt and your half-typed line are drawn again
    below it. ``prompting`` is set while the main thread waits at the prompt.
    """

    def __init__(self) -> None:
        self.colours = Colours(sys.stdout)
        self.redraw = sys.stdout.isatty()  # the escape codes need a terminal
        self.prompting = threading.Event()

    def read_line(self) -> str | None:
        """Return the next line typed, or None on Ctrl-D."""
        self.prompting.set()
        try:
            return input(PROMPT)
        except EOFError:
            print()  # leave the prompt's line
            return None
        except KeyboardInterrupt:
            print()  # the same; the caller handles the interrupt
            raise
        finally:
            self.prompting.clear()

    def show(self, text: str) -> None:
        """Print the reply ``text``, in colour; called by the replies thread."""
        text = styled(text, self.colours)
        if self.redraw and self.prompting.is_set():
            typed = readline.get_line_buffer() if readline else ""
            text = f"\r\x1b[K{text}\n{PROMPT}{typed}"
        else:
            text += "\n"
        sys.stdout.write(text)
        sys.stdout.flush()


def styled(text: str, colours: Colours) -> str:
    """A reply line as the terminal shows it: notifications marked and yellow,
    errors red, other replies green."""
    if text.startswith(NOTIFICATION):
        return colours.paint("* " + text, "33")
    if text.startswith(ERRORS):
        return colours.paint(text, "31")
    return colours.paint(text, "32")


def run_lines(session: Session, console: PipedConsole | TerminalConsole) -> None:
    """Send each line the console reads, until its end or ``quit``."""
    while (line := console.read_line()) is not None and not session.lost.is_set():
        command = line.strip()
        if command == "quit":
            return
        if command == "help":
            sys.stdout.write(HELP + "\n")  # one write: a reply cannot cut into it
            sys.stdout.flush()
        elif command:  # a blank line is no request; anything else goes as typed
            session.send(line)


def talk(session: Session, console: PipedConsole | TerminalConsole) -> int:
    """Run the session to its end; return the exit code."""
    session.replies.start()
    try:
        run_lines(session, console)
        session.finish()
    except KeyboardInterrupt:  # Ctrl-C, or the replies thread saw the end
        session.finish()
    except OSError:  # sending failed: the connection broke
        session.lost.set()
        session.finish()
    if session.lost.is_set():
        return fail("lost the connection to the server")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        conn = socket.create_connection((args.host, args.port), CONNECT_TIMEOUT)
    except OSError as error:
        where = f"{args.host}:{args.port}"
        reason = error.strerror or error
        return fail(f"cannot connect to {where}: {reason} (is srunner running?)")
    conn.settimeout(None)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started with SIGINT ignored (in the background of a script, or by
        # nohup): wake_main_thread needs it handled, or a server that goes
        # away is never noticed while we wait for input.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    console = TerminalConsole() if sys.stdin.isatty() else PipedConsole()
    if isinstance(console, TerminalConsole):
        print(f"Connected to {args.host}:{args.port}. Type help for the requests.")
    session = Session(conn, console.show)
    try:
        return talk(session, console)
    except KeyboardInterrupt:  # a second Ctrl-C while waiting for the replies
        session.finish()
        return 1 if session.lost.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
