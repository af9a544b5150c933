"""Property: any sequence of changes submitted through the Controller on a SQLite ledger folds
to a state whose Envoy resources are consistent; a refused change leaves the ledger and the
state as they were; and re-folding the stored ledger from scratch gives the same state and
byte-identical resources."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from controlplane.control import Controller
from controlplane.errors import WeirError
from controlplane.ledger import SqliteStore
from controlplane.model import (
    MAX_WEIGHT,
    Activation,
    Instance,
    Pinning,
    Retries,
    Route,
    RouteMatch,
    ServiceSpec,
    fold,
)
from controlplane.resources import Resources, build_resources

SERVICES = ("web", "api", "shop")
IDS = ("a", "b", "c", "d", "e", "f")
VERSIONS = ("v1", "v2", "v3")

ROUTE_CHOICES = (
    Route(),
    Route(match=RouteMatch(prefix="/api"), timeout=2.0),
    Route(match=RouteMatch(path="/health", headers={"x-tenant": "beta"})),
    Route(retries=Retries(attempts=2, on=("5xx",), per_try_timeout=0.5)),
)
ROUTES = st.lists(st.sampled_from(ROUTE_CHOICES), max_size=3, unique_by=ROUTE_CHOICES.index)
# Shared names, so that some applies claim another service's Host and are refused.
DOMAINS = st.lists(st.sampled_from(["www", "shop.internal", "api", "web.local"]), max_size=2)
SPECS = st.builds(
    ServiceSpec,
    name=st.sampled_from(SERVICES),
    domains=DOMAINS.map(lambda domains: tuple(dict.fromkeys(domains))),
    routes=ROUTES.map(tuple),
    pinning=st.none() | st.just(Pinning()),
)
ADDRESSES = st.one_of(
    st.integers(min_value=1, max_value=65535).map(lambda port: f"127.0.0.1:{port}"),
    st.sampled_from(["localhost:8080", "web-1.internal:80", "[::1]:9000"]),
)
WEIGHTS = st.one_of(st.integers(min_value=0, max_value=100), st.sampled_from([0, 1, MAX_WEIGHT]))
ACTIVATIONS = st.one_of(
    st.builds(Activation.live, WEIGHTS),
    st.builds(Activation.shadow, st.floats(min_value=0, max_value=100)),
    st.just(Activation.inactive()),
    st.just(Activation.retired()),
)


def payloads(resources: Resources) -> tuple[dict[str, bytes], dict[str, bytes]]:
    return (
        {name: e.payload for name, e in resources.clusters.items()},
        {name: e.payload for name, e in resources.routes.items()},
    )


class Ledger(RuleBasedStateMachine):
    """Operators' writes, at random, through one controller on a ledger file."""

    def __init__(self) -> None:
        super().__init__()
        self._directory = tempfile.TemporaryDirectory()
        self.path = Path(self._directory.name) / "weir.db"
        self.store = SqliteStore(self.path)
        self.controller = Controller(self.store)

    def submit(self, write: Callable[[], object]) -> None:
        """Make one write; if weir refuses it, nothing may have changed."""
        entries, state = self.controller.history(), self.controller.state
        try:
            write()
        except WeirError:
            event("refused")
            assert self.controller.history() == entries
            assert self.controller.state == state
        else:
            event("accepted")

    @initialize()
    def services(self) -> None:
        for name in SERVICES:
            self.controller.apply_service(ServiceSpec(name=name), actor="prop")

    @rule(spec=SPECS)
    def apply_service(self, spec: ServiceSpec) -> None:
        self.submit(lambda: self.controller.apply_service(spec, actor="prop"))

    @rule(
        instance_id=st.sampled_from(IDS),
        service=st.sampled_from(SERVICES),
        version=st.sampled_from(VERSIONS),
        address=ADDRESSES,
    )
    def add_instance(self, instance_id: str, service: str, version: str, address: str) -> None:
        instance = Instance(id=instance_id, service=service, version=version, address=address)
        self.submit(lambda: self.controller.add_instance(instance, actor="prop"))

    @rule(instance_id=st.sampled_from(IDS), after=ACTIVATIONS, force=st.booleans())
    def activate(self, instance_id: str, after: Activation, force: bool) -> None:
        self.submit(lambda: self.controller.change(instance_id, after, actor="prop", force=force))

    @rule(instance_id=st.sampled_from(IDS), weight=st.integers(min_value=1, max_value=100))
    def go_live(self, instance_id: str, weight: int) -> None:
        """activate with a positive weight: the change that makes traffic, drawn more often."""
        self.activate(instance_id, Activation.live(weight), force=False)

    @rule(instance_id=st.sampled_from(IDS))
    def retire(self, instance_id: str) -> None:
        self.submit(lambda: self.controller.retire(instance_id, actor="prop"))

    @rule(changes=st.lists(st.tuples(st.sampled_from(IDS), ACTIVATIONS), min_size=2, max_size=3))
    def switch(self, changes: list[tuple[str, Activation]]) -> None:
        """Several changes in one transaction, as a blue-green switch makes them."""

        def write() -> None:
            batch = [self.controller.propose_change(i, a, actor="prop") for i, a in changes]
            self.controller.submit(batch)

        self.submit(write)

    @invariant()
    def resources_are_consistent(self) -> None:
        build_resources(self.controller.state).consistent()

    @invariant()
    def indexes_agree_with_a_scan(self) -> None:
        state = self.controller.state
        for service in SERVICES:
            scanned = [i for i in state.instances.values() if i.instance.service == service]
            assert state.instances_of(service) == scanned
            rollouts = [r for r in state.rollouts.values() if r.service == service]
            assert state.rollouts_of(service) == rollouts
            assert state.active_rollout(service) == next((r for r in rollouts if r.active), None)
        owners = {d: s.name for s in state.services.values() for d in s.host_domains()}
        assert dict(state.domain_owners) == owners

    def teardown(self) -> None:
        try:
            state = self.controller.state
            reader = SqliteStore(self.path)  # the file alone, as a restarted weir reads it
            try:
                refolded = fold(reader.read())
                assert refolded == state
                assert Controller(reader).state == state
            finally:
                reader.close()
            ours, theirs = build_resources(state), build_resources(refolded)
            theirs.consistent()
            assert payloads(theirs) == payloads(ours)
            assert theirs.version == ours.version
            event(f"ends with {len(state.instances)} instances")
            live = sum(len(state.live_of(service)) for service in SERVICES)
            event(f"ends with {live} live instances")
        finally:
            self.store.close()
            self._directory.cleanup()


TestLedgerFold = Ledger.TestCase
TestLedgerFold.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
