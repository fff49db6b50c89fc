"""A correct server whose acceptor forgets the threads it saw end.

Written apart from the reference (issue 22), in the shape students write:
the acceptor starts each client's reader and writer and keeps its list of
threads short, ``[t for t in threads if t.is_alive()] + [reader, writer]``;
close() joins the threads still listed. Every thread it started has ended
when close() returns, and the server saw each one end before it let it go:
the contract (close() joins every thread, or has seen it end) holds, and
the suites must pass it. The rest is ``plain_messages``: one message a
request, one coordinator that owns the store and the client table.
"""

from __future__ import annotations

import threading

from grading.proof.correct_servers import plain_messages
from grading.proof.correct_servers.plain_messages import Client, log


class KeyValueServer(plain_messages.KeyValueServer):
    def admit(self, client: Client) -> None:
        """Start the client's reader and writer; forget the threads seen ended."""
        number = client.number + 1
        reader = threading.Thread(
            target=self.read_then_leave, args=(client,), name=f"reader-{number}"
        )
        writer = threading.Thread(
            target=self.write_then_close, args=(client,), name=f"writer-{number}"
        )
        started = self.start_both(client, writer, reader)
        self.readers = [t for t in self.readers if t.is_alive()] + started

    def start_both(self, client: Client, *threads: threading.Thread) -> list:
        """Start the client's writer, then its reader; those that started.

        Out of threads, the client is let go at once: the coordinator counts
        it dropped and stops its writer, which closes the connection (or,
        with no writer, it is closed here)."""
        started = []
        for thread in threads:
            try:
                thread.start()
            except RuntimeError as error:
                log.warning(
                    "client %d: cannot start %s: %s", client.number, thread.name, error
                )
                self.inbox.put(("leave", client, None))
                if not started:
                    client.conn.close()
                return started
            started.append(thread)
        return started

    def read_then_leave(self, client: Client) -> None:
        self.read_lines(client)
        self.inbox.put(("leave", client, None))

    def write_then_close(self, client: Client) -> None:
        self.write(client)  # returns at STOP, after the replies queued before it
        client.conn.close()
