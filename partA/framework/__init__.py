"""Part A's test framework: given with the kit, not yours to change.

The suites in ``partA/`` are built on it; your server never imports it.

* ``harness``: runs your server for a test, drives its clients, checks the
  replies, the counts, the store and the threads; every wait has a deadline.
* ``workload``: the classic workload, and the replies and store it is owed.
* ``ownership``: the ownership checker (state written by two threads with
  no message between them).
* ``waits`` and ``deadlock``: where a hung server's threads wait, and the
  cycle when they wait on each other.
* ``problems``: a failure as one list of problems.
* ``picture``: a failed test drawn as one HTML page.
* ``amplifier``: ``--stress``, which shakes out races.
"""
