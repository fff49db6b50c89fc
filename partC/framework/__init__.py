"""Part C's test framework: given with the kit, not yours to change.

* ``harness``: part A's harness, with a durable store and part C's replies.
* ``pgcluster``: a throwaway PostgreSQL server for the store tests.
"""
