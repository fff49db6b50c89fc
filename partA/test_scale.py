"""Scale: a thousand clients at once are accepted, served and counted, and
``close()`` with all of them still connected leaves nothing behind.

How fast this goes (and the memory it takes) is measured by the benchmarks,
not asserted here, and the verdict does not depend on it: the harness waits
for a server as long as it works (``harness.Patience``), so a slow machine,
a loaded one or ``--stress`` never fails it; only a server that stops or
answers wrong does. The time close() took is printed (``-rP`` shows it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from partA.framework.harness import ServerUnderTest, expect_replies
from partA.framework.workload import Step

CLIENTS = 1000
FILES = 2 * CLIENTS + 256  # both ends of each connection are in this process


@pytest.fixture
def enough_files() -> Iterator[None]:
    """Raise the limit on open files to FILES for the test, where the system
    allows it; else skip, saying how to allow it."""
    try:
        import resource
    except ImportError:  # Windows: no such limit on sockets
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= FILES:
        yield
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, hard))
    except (ValueError, OSError):  # the hard limit is lower
        pytest.skip(
            f"needs {FILES} open files at once, and this shell allows {hard}: "
            f"run `ulimit -n {FILES}` in the shell first"
        )
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
@pytest.mark.usefixtures("enough_files")
def test_thousand_clients(kv: ServerUnderTest) -> None:
    clients = [kv.connect() for _ in range(CLIENTS)]
    kv.wait_for_counts(CLIENTS, 0, f"after {CLIENTS} clients connected")
    for client in clients:
        n = client.number
        client.send([b"Put:key_%d:value_%d" % (n, n), b"Get:key_%d" % n])
    for client in clients:  # every one is served, and only with its own reply
        n = client.number
        expect_replies(
            client, Step([b"Get:key_%d" % n], [b"key_%d:value_%d" % (n, n)]), "its Get"
        )
    started = time.monotonic()
    kv.close()  # with all of them still connected; checks for leaks too
    seconds = time.monotonic() - started
    print(f"close() with {CLIENTS} clients connected took {seconds:.3f} s (-rP shows)")
