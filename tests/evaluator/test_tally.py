"""The budget counts what callers got: whichever instance answered, whatever its state now;
never a shadow's mirrored answers, never a response Envoy retried."""

from __future__ import annotations

from controlplane.control import Controller
from controlplane.evaluator._tally import Answered, CallerTally
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.stats import ClusterCounts


def web() -> Controller:
    """web with `old` live and `canary`, `mirror` registered."""
    c = Controller(SqliteStore(":memory:"))
    c.apply_service(ServiceSpec(name="web"), actor="ops")
    c.apply_service(ServiceSpec(name="api"), actor="ops")
    for n, instance_id in enumerate(("old", "canary", "mirror")):
        instance = Instance(id=instance_id, service="web", version="v1", address=f"10.0.0.{n}:80")
        c.add_instance(instance, actor="ops")
    c.change("old", Activation.live(90), actor="ops")
    return c


class Counts:
    """Cumulative counts per cluster, as a source reports them."""

    def __init__(self) -> None:
        self.clusters: dict[str, ClusterCounts] = {}

    def serve(
        self,
        instance_id: str,
        requests: int,
        errors: int = 0,
        *,
        retried: int = 0,
        retries: int = 0,
    ) -> None:
        """Final answers, of which `errors` failed; `retried` 5xx Envoy retried, and `retries`."""
        name = f"web--{instance_id}"
        added = ClusterCounts(
            requests, errors, retried=retried, retried_errors=retried, retries=retries
        )
        self.clusters[name] = self.clusters.get(name, ClusterCounts()) + added


def test_the_first_scrape_is_the_zero() -> None:
    c, counts, tally = web(), Counts(), CallerTally()
    counts.serve("old", 1000, 10)

    assert tally.add(c.state, counts.clusters) == {"web": Answered(), "api": Answered()}


def test_a_rolled_back_canary_keeps_what_it_failed_and_its_late_answers_count() -> None:
    c, counts, tally = web(), Counts(), CallerTally()
    c.change("canary", Activation.live(10), actor="ops")
    tally.add(c.state, counts.clusters)

    counts.serve("old", 900, 1)
    counts.serve("canary", 100, 30)
    assert tally.add(c.state, counts.clusters)["web"] == Answered(1000, 31)

    # When the canary is rolled back, and Envoy's next flush brings its last answers
    c.change("canary", Activation.inactive(), actor="evaluator", reason="rollback")
    counts.serve("canary", 5, 2)
    counts.serve("old", 95)

    # Then they count: callers got them
    assert tally.add(c.state, counts.clusters)["web"] == Answered(100, 2)


def test_a_shadows_mirrored_answers_never_count_not_even_after_it_left() -> None:
    c, counts, tally = web(), Counts(), CallerTally()
    c.change("mirror", Activation.shadow(50), actor="ops")
    tally.add(c.state, counts.clusters)

    counts.serve("old", 1000, 1)
    counts.serve("mirror", 500, 150)
    assert tally.add(c.state, counts.clusters)["web"] == Answered(1000, 1)

    c.change("mirror", Activation.inactive(), actor="evaluator", reason="rollback")
    counts.serve("mirror", 20, 6)  # the last mirrored answers, flushed after the change
    assert tally.add(c.state, counts.clusters)["web"] == Answered()

    c.change("mirror", Activation.live(10), actor="ops")  # later it serves callers: they count
    tally.add(c.state, counts.clusters)
    counts.serve("mirror", 50, 1)
    assert tally.add(c.state, counts.clusters)["web"] == Answered(50, 1)


def test_callers_get_what_the_last_attempt_answered_not_the_responses_envoy_retried() -> None:
    c, counts, tally = web(), Counts(), CallerTally()
    tally.add(c.state, counts.clusters)

    counts.serve("old", 100, 3, retried=40, retries=45)

    assert tally.add(c.state, counts.clusters)["web"] == Answered(100, 3)


def test_a_retired_instances_counts_stay_and_services_apart() -> None:
    c, counts, tally = web(), Counts(), CallerTally()
    c.change("canary", Activation.live(10), actor="ops")
    tally.add(c.state, counts.clusters)
    counts.serve("canary", 10, 5)
    tally.add(c.state, counts.clusters)
    c.change("canary", Activation.inactive(), actor="ops")
    c.retire("canary", actor="ops")

    counts.serve("canary", 1, 1)
    answered = tally.add(c.state, counts.clusters)

    assert answered == {"web": Answered(1, 1), "api": Answered()}
