"""The classic workload of the partA suites: each client's share of Puts,
Updates, Gets and Deletes (a ``Script``), with a model of what it stores, so
that every reply a client is owed and the final store are known exactly,
whatever the interleaving.

In: a client's name, how many requests, how many deletes, a value pad and a
seeded generator. Out: ``Step`` records (requests sent together, and the
reply lines they are owed) and the expected store (``expected_store``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Step:
    """Requests sent together, and the reply lines they are owed, in order."""

    requests: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)


class Script:
    """One client's share of the workload, with a model of what it stores.

    Each event picks one of the client's keys and Puts a value (when the key
    is absent, and now and then to grow its list) or Updates one of its values;
    then it Gets the key, or, for the client's first ``deletes`` events,
    Deletes one of its keys. Keys belong to one client, so the expected
    replies and the final store are exact, whatever the interleaving.

    Every tenth event also meets a corner of the protocol table, at fixed
    places (``CORNERS``): an Update of an absent key, an Update whose old value
    is not there, a Get and a Delete of an absent key.
    """

    CORNERS = {
        3: "update-absent",
        5: "update-no-old",
        7: "get-absent",
        9: "delete-absent",
    }

    def __init__(
        self, name: str, msgs: int, deletes: int, pad: str, rng: random.Random
    ) -> None:
        self.name = name
        self.model: dict[str, list[bytes]] = {}
        self.events = [self._event(i, msgs, deletes, pad, rng) for i in range(msgs)]

    def _event(self, i: int, msgs: int, deletes: int, pad: str, rng) -> Step:
        key = f"key_{self.name}_{rng.randrange(max(1, msgs // 10))}"
        new = f"value_{i}{pad}".encode()
        corner = self.CORNERS.get(i % 10)
        if corner == "update-absent":
            key = f"key_{self.name}_new{i}"
        values = self.model.setdefault(key, [])
        step = Step()
        if corner == "update-absent" or (corner == "update-no-old" and values):
            step.requests.append(b"Update:%s:gone_%d:%s" % (key.encode(), i, new))
        elif not values or (len(values) < 3 and rng.random() < 1 / 3):
            step.requests.append(b"Put:%s:%s" % (key.encode(), new))
        else:
            old = rng.choice(values)
            values.remove(old)
            step.requests.append(b"Update:%s:%s:%s" % (key.encode(), old, new))
        values.append(new)
        if i < deletes:
            victim = rng.choice(sorted(self.model))
            del self.model[victim]
            step.requests.append(b"Delete:" + victim.encode())
        else:
            step.requests.append(b"Get:" + key.encode())
            step.replies = [key.encode() + b":" + v for v in values]
        if corner in ("get-absent", "delete-absent"):
            verb = b"Get" if corner == "get-absent" else b"Delete"
            step.requests.append(b"%s:key_%s_absent%d" % (verb, self.name.encode(), i))
        return step

    def batches(self, rng: random.Random, largest: int = 16) -> list[Step]:
        """The events cut into batches of 1 to ``largest``, each one Step."""
        batches, i = [], 0
        while i < len(self.events):
            size = rng.randint(1, largest)
            batch = Step()
            for event in self.events[i : i + size]:
                batch.requests += event.requests
                batch.replies += event.replies
            batches.append(batch)
            i += size
        return batches

    def fence(self) -> Step:
        """A last Get of a key this client holds, with the reply it is owed."""
        key = next(reversed(self.model))
        lines = [key.encode() + b":" + v for v in self.model[key]]
        return Step([b"Get:" + key.encode()], lines)


def split_deletes(total: int, clients: int) -> list[int]:
    """Share ``total`` deletes out among clients, as evenly as possible."""
    return [total // clients + (c < total % clients) for c in range(clients)]


def expected_store(scripts: Iterable[Script]) -> dict[str, list[bytes]]:
    expected: dict[str, list[bytes]] = {}
    for script in scripts:
        expected.update(script.model)
    return expected
