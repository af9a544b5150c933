"""Late outcomes: a purchase after the response, pushed by the application to `POST
/v1/outcomes`, attributed to an instance, idempotent by a client-supplied id.

Bounded: the ids of the last MAX_IDS outcomes are remembered (a repeat among them is accepted
and not counted again); each value is finite within 1e9; an outcome for an instance that is not
registered, or a key no objective of its service reads (`source.api`), is refused. Totals are
kept in this process's memory (under HA, push to the leader's API: a follower's are not
judged); each evaluator interval is one unit of spread, as for PromQL.
"""

from __future__ import annotations

from collections import OrderedDict

from controlplane.model import Outcomes, Scrape, State
from controlplane.outcomes._book import Batches

MAX_IDS = 100_000


class Refused(ValueError):
    """A late outcome weir does not take: names the field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class LateOutcomes:
    def __init__(self, *, max_ids: int = MAX_IDS) -> None:
        self._max_ids = max_ids
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._totals: dict[tuple[str, str], float] = {}
        self._batches = Batches()
        self._read_for: tuple[State | None, list[tuple[str, str]], set[str]] = (None, [], set())
        """The state last read for, its (cluster, objective) pairs and its clusters."""

    def add(self, state: State, *, id: str, instance: str, key: str, value: float) -> bool:
        """Record one outcome; False when its id was seen already (nothing counted again).
        Raises Refused (see `check`)."""
        names = self.check(state, instance=instance, key=key)
        if id in self._seen:
            self._seen.move_to_end(id)
            return False
        self._seen[id] = None
        if len(self._seen) > self._max_ids:
            self._seen.popitem(last=False)
        cluster = state.instances[instance].instance.cluster_name
        for name in names:
            self._totals[(cluster, name)] = self._totals.get((cluster, name), 0.0) + value
        return True

    def check(self, state: State, *, instance: str, key: str) -> list[str]:
        """The objectives an outcome under `key` for `instance` counts for; Refused if none."""
        record = state.instances.get(instance)
        if record is None:
            raise Refused(f"no instance {instance!r}", "instance")
        spec = state.services.get(record.instance.service)
        names = [o.name for o in spec.objectives if o.source.api == key] if spec else []
        if not names:
            raise Refused(
                f"no objective of service {record.instance.service!r} reads late outcomes "
                f"under {key!r} (source: {{api: {key}}})",
                "key",
            )
        return names

    async def read(self, state: State, scrape: Scrape) -> Outcomes:
        if self._read_for[0] is not state:
            # Which (cluster, objective) pairs read late outcomes, and which clusters exist,
            # change with the state only: worked out then, not for every instance each tick.
            pairs = [
                (record.instance.cluster_name, objective.name)
                for spec in state.services.values()
                if any(o.source.api is not None for o in spec.objectives)
                for record in state.instances_of(spec.name)
                for objective in spec.objectives
                if objective.source.api is not None
            ]
            current = {r.instance.cluster_name for r in state.instances.values()}
            self._totals = {k: v for k, v in self._totals.items() if k[0] in current}
            self._read_for = (state, pairs, current)
        _, pairs, current = self._read_for
        readings = {}
        for key in pairs:
            counts = scrape.clusters.get(key[0])
            if counts is not None:
                readings[key] = (counts.requests, self._totals.get(key, 0.0))
        self._batches.fold(readings, current)
        return self._batches.book.snapshot()
