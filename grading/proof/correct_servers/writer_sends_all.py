"""The reference as it runs where sockets have no ``MSG_DONTWAIT`` (Windows):
the coordinator never sends, and the writer sends every reply.

Importing this module turns the reference's sending by the coordinator off
for the whole process, so only a pytest process of its own may import it
(as ``--server grading.proof.correct_servers.writer_sends_all:KeyValueServer``).
"""

from __future__ import annotations

import partA.server

partA.server._SEND_NOW = None  # what getattr(socket, "MSG_DONTWAIT", None) is there

KeyValueServer = partA.server.KeyValueServer
