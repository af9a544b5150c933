"""Incremental (delta) ADS, one stream: requests in, responses out, no I/O.

The session tracks what the proxy holds, name by name, and sends only the difference: changed
or newly subscribed resources, and `removed_resources` for what it should drop. On reconnect
the proxy's `initial_resource_versions` say what it holds, so nothing it already has is resent.

A proxy holds, per type, either all of one view's resources (as almost every proxy does once
it ACKed the latest change) or a choice of them. The first is kept as the view's own `Whole`,
shared by every stream that holds it, and the next change is the difference the newer view
works out once; only the second is spelled out name by name in the stream's own dicts. In a
large mesh that is what keeps a delta stream's memory and a change's CPU per stream small
rather than growing with the mesh (bench/README.md, "Figures behind the code").

How it reads: `responses` holds the protocol's rules, as its SotW sibling does (one response
in flight per type, a NACKed content never sent again, an empty first answer); `_change`
works out what the proxy should hold, with the fast path for a proxy holding all of a view's
at its end; `_own_change` is the name-by-name one.

With a VHDS view (what the server gives delta streams) the route configuration carries no
virtual host, and each service's virtual host is a resource of its own: a weight change sends
one virtual host, whatever the size of the mesh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from envoy.service.discovery.v3 import discovery_pb2

from controlplane.resources import (
    CLUSTER_TYPE,
    DELTA_TYPE_ORDER,
    ROUTE_TYPE,
    VHOST_TYPE,
    Encoded,
)
from controlplane.xds._errors import check_type
from controlplane.xds._sotw import AckHook, NackHook
from controlplane.xds._view import (
    EMPTY,
    EMPTY_REFS,
    EMPTY_WHOLE,
    NONE,
    ROUTING_TYPES,
    WILDCARD,
    ClusterInputs,
    Held,
    ServedView,
    Whole,
    delta_fingerprint,
    desired,
    routes_ready,
    wants_all,
)


@dataclass(slots=True)
class _Sent:
    nonce: str
    system_version: str
    """The snapshot this response came from: what the registry reports as ACKed or NACKed."""
    fingerprint: str
    upserts: Mapping[str, Encoded]
    removed: list[str]
    named: frozenset[str]
    """For routing types: the clusters the upserted resources name, as sent."""
    route_refs: Mapping[str, frozenset[str]]
    """For routing types: the view's name → clusters it names, as sent."""
    whole: Whole | None
    """All of the view's resources of the type, when the proxy holds exactly those once it
    applies this response; None when it holds a choice of them."""


class _Difference(Protocol):
    """What one response of a type would carry: the upserts and removals that take the proxy
    from what it holds to what it should hold. A stream holding all of a view's gets the
    view's own `Changes`, shared (nothing is made per stream); a stream holding a choice, its
    `_Own`."""

    @property
    def upserts(self) -> Mapping[str, Encoded]: ...
    @property
    def removed(self) -> list[str]: ...
    @property
    def fingerprint(self) -> str:
        """delta_fingerprint of the upserts and removals (the key a NACK is remembered by)."""
        ...

    @property
    def named(self) -> frozenset[str]:
        """For routing types: the clusters the upserted resources name."""
        ...


class _Own(NamedTuple):
    """A difference worked out for one stream."""

    upserts: Mapping[str, Encoded]
    removed: list[str]
    fingerprint: str
    named: frozenset[str]


_Change = tuple[_Difference, Whole | None]
"""A difference, and all of the view's resources of the type when that is what the proxy
holds once it applies it (None when it holds a choice)."""

_NOTHING: _Change = (_Own(EMPTY, [], "", NONE), None)
"""Nothing to send, and nothing new to hold (never sent: its list is never changed)."""


@dataclass(slots=True)
class _TypeState:
    subscribed: bool = False
    names: set[str] | None = None
    """Explicitly subscribed names; None is a wildcard (all)."""
    synced: Whole | None = EMPTY_WHOLE
    """What the proxy holds when it is all of one view's resources (or none): shared, and
    the dicts below are then empty. None when it holds a choice, spelled out below."""
    holds: dict[str, str] = field(default_factory=dict)
    """Name → version the proxy holds, as far as its ACKs (or its reconnect) tell."""
    resources: dict[str, Encoded] = field(default_factory=dict)
    """The held resources we sent (not those only named by a reconnect)."""
    refs: dict[str, frozenset[str]] = field(default_factory=dict)
    """For routing types: held name → the clusters the held version names."""
    inflight: _Sent | None = None
    rejected: str = ""
    last_nonce: str = ""
    answered: bool = False
    """Whether the subscription got its first response. Envoy waits for one, even an empty
    one, before it moves on with its initialisation."""
    acked: bool = False
    """Whether the proxy ACKed any response of this type on this stream."""
    requests: int = 0
    settled: ClusterInputs | None = None
    """For clusters: the inputs for which there was last nothing to send."""

    def spell_out(self) -> None:
        """Turn a shared `synced` into the stream's own dicts, before a change to what the
        proxy holds that is not all of a view's."""
        whole, self.synced = self.synced, None
        if whole is not None:
            self.holds = {name: r.version for name, r in whole.resources.items()}
            self.resources = dict(whole.resources)
            self.refs = {n: whole.route_refs[n] for n in whole.resources if n in whole.route_refs}

    def hold(self, whole: Whole) -> None:
        """The proxy holds exactly `whole` now."""
        self.synced = whole
        if self.holds:
            self.holds, self.resources, self.refs = {}, {}, {}

    def holding(self) -> dict[str, tuple[str, Encoded | None]]:
        """Name → (version, resource if known) of what the proxy holds."""
        if self.synced is not None:
            return {n: (r.version, r) for n, r in self.synced.resources.items()}
        return {n: (v, self.resources.get(n)) for n, v in self.holds.items()}

    def held_refs(self) -> frozenset[str]:
        """For routing types: the clusters the held resources name."""
        if self.synced is not None:
            return self.synced.refs
        return frozenset[str]().union(*self.refs.values())


@dataclass(slots=True)
class DeltaSession:
    on_ack: AckHook
    on_nack: NackHook
    types: dict[str, _TypeState] = field(
        default_factory=lambda: {t: _TypeState() for t in DELTA_TYPE_ORDER}
    )
    held: Held = field(default_factory=lambda: Held(clusters={}, route_refs=None))
    _nonces: int = 0
    _vhds: bool = False
    """Whether the latest view serves virtual hosts by VHDS."""

    def on_request(self, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        check_type(request.type_url, DELTA_TYPE_ORDER)
        state = self.types[request.type_url]
        state.requests += 1
        first = not state.subscribed
        state.subscribed = True
        if first and request.initial_resource_versions:
            state.spell_out()
            state.holds.update(request.initial_resource_versions)
            if request.type_url == CLUSTER_TYPE:
                known = dict.fromkeys(request.initial_resource_versions)
                self.held.clusters = {**known, **self.held.clusters}
        self._subscribe(request, state, first=first)
        if request.response_nonce and request.response_nonce == state.last_nonce:
            sent, state.inflight = state.inflight, None
            if sent is not None:
                self._answered(request, state, sent)
                self._pending_changed()

    def _subscribe(
        self, request: discovery_pb2.DeltaDiscoveryRequest, state: _TypeState, *, first: bool
    ) -> None:
        if request.type_url not in ROUTING_TYPES:
            return  # clusters and listeners are wildcard subscriptions
        if first and not request.resource_names_subscribe:
            # A first request naming nothing subscribes to everything (xDS's legacy wildcard):
            # how Envoy 1.40 asks for the virtual hosts of its VHDS route configuration.
            state.names = None
            return
        if first:
            names: set[str] = set()
        else:
            # Naming resources later keeps an earlier wildcard (routes stay whole).
            names = state.names if state.names is not None else {WILDCARD}
        for name in request.resource_names_subscribe:
            if name not in names and not first:
                _forget(state, name)  # newly subscribed: always send it
            names.add(name)
        for name in request.resource_names_unsubscribe:
            names.discard(name)
            _forget(state, name)
        state.names = names

    def _answered(
        self, request: discovery_pb2.DeltaDiscoveryRequest, state: _TypeState, sent: _Sent
    ) -> None:
        type_url = request.type_url
        if request.HasField("error_detail"):
            state.rejected = sent.fingerprint
            self.on_nack(type_url, sent.system_version, request.error_detail.message)
            return
        if sent.whole is not None:
            state.hold(sent.whole)
        else:
            state.spell_out()
            for name, resource in sent.upserts.items():
                state.holds[name] = resource.version
                state.resources[name] = resource
                if name in sent.route_refs:
                    state.refs[name] = sent.route_refs[name]
            for name in sent.removed:
                state.holds.pop(name, None)
                state.resources.pop(name, None)
                state.refs.pop(name, None)
        state.acked = True
        if type_url == CLUSTER_TYPE:
            if sent.whole is not None:
                self.held.clusters = sent.whole.resources
            else:
                clusters = {**self.held.clusters, **sent.upserts}
                for name in sent.removed:
                    clusters.pop(name, None)
                self.held.clusters = clusters
        elif type_url in ROUTING_TYPES:
            self._held_routes_changed()
        self.on_ack(type_url, sent.system_version)

    def _held_routes_changed(self) -> None:
        if self._vhds and not self.types[VHOST_TYPE].acked:
            # Envoy does not report the virtual hosts it holds when it reconnects (it asks for
            # them by namespace), so what they name is known once it ACKs ours: until then,
            # every cluster it holds stays.
            return
        named = [refs for t in ROUTING_TYPES if (refs := self.types[t].held_refs())]
        # One type naming clusters (as with VHDS) keeps its set as it is: shared by every
        # stream that holds the same view, so that they compare it by identity.
        if len(named) < 2:
            self.held.route_refs = named[0] if named else NONE
        else:
            self.held.route_refs = frozenset[str]().union(*named)

    def _pending_changed(self) -> None:
        named = [
            refs
            for t in ROUTING_TYPES
            if (sent := self.types[t].inflight) is not None and (refs := sent.named)
        ]
        if len(named) < 2:
            self.held.pending_refs = named[0] if named else NONE
        else:
            self.held.pending_refs = frozenset[str]().union(*named)

    def holdings(self) -> dict[str, dict[str, tuple[str, Encoded | None]]]:
        """Per subscribed type, name → (version, resource if known) of what the proxy holds."""
        return {
            type_url: state.holding() for type_url, state in self.types.items() if state.subscribed
        }

    def responses(self, view: ServedView) -> list[discovery_pb2.DeltaDiscoveryResponse]:
        """What to send now for this view, in delta's type order: per subscribed type with
        nothing in flight, what the proxy should hold less what it holds."""
        self._vhds = view.vhds
        if self.held.route_refs is None and not view.vhds:
            self._learn_held_routes(view)
        out = []
        for type_url in DELTA_TYPE_ORDER:
            state = self.types[type_url]
            if not state.subscribed or state.inflight is not None:
                continue
            inputs = None
            if type_url == CLUSTER_TYPE:
                inputs = ClusterInputs.of(view, self.held, state.requests)
                if inputs.same_as(state.settled):
                    continue
            change = self._change(type_url, state, view)
            if change is None:
                continue  # routes wait for the clusters they name
            difference, whole = change
            if not difference.upserts and not difference.removed and state.answered:
                state.settled = inputs
                if whole is not None:
                    state.hold(whole)
                continue
            if difference.fingerprint == state.rejected:
                state.settled = inputs  # the proxy refused exactly this: only news is sent
                continue
            out.append(self._send(type_url, state, view, difference, whole))
        return out

    def _change(self, type_url: str, state: _TypeState, view: ServedView) -> _Change | None:
        """What the proxy should be sent of one type, or None while its routes must wait."""
        whole = view.whole(type_url)
        synced = state.synced
        routing = type_url in ROUTING_TYPES
        if routing and synced is not None and wants_all(type_url, state.names, whole.resources):
            # Readiness is checked below, for what changed: the rest it holds.
            wanted: Mapping[str, Encoded | None] = whole.resources
        else:
            maybe = desired(type_url, view, self.held, state.names)
            if maybe is None:
                return None
            wanted = maybe
        if wanted is not whole.resources or synced is None:
            return self._own_change(type_url, state, view, wanted, whole)
        # The shared-view fast path: the proxy holds all of an earlier view's resources of the
        # type (or none) and should hold all of this view's. The difference is the view's,
        # worked out once for every stream that holds the same (ServedView.changes_since).
        if synced is whole and state.answered:
            return _NOTHING  # it holds this very view's already
        changes = view.changes_since(type_url, synced.resources)
        if routing and not routes_ready(view, list(changes.upserts), self.held):
            return None
        return changes, whole

    def _own_change(
        self,
        type_url: str,
        state: _TypeState,
        view: ServedView,
        wanted: Mapping[str, Encoded | None],
        whole: Whole,
    ) -> _Change:
        """The proxy holds, or should hold, a choice of the view's resources: the difference
        name by name, against what this stream spelled out."""
        state.spell_out()
        upserts = {
            name: resource
            for name, resource in wanted.items()
            if resource is not None and state.holds.get(name) != resource.version
        }
        removed = sorted(name for name in state.holds if name not in wanted)
        refs = view.route_refs if type_url in ROUTING_TYPES else EMPTY_REFS
        named = frozenset[str]().union(*(refs.get(n, NONE) for n in upserts))
        own = _Own(upserts, removed, delta_fingerprint(upserts, removed), named)
        return own, whole if wanted is whole.resources else None

    def _send(
        self,
        type_url: str,
        state: _TypeState,
        view: ServedView,
        change: _Difference,
        whole: Whole | None,
    ) -> discovery_pb2.DeltaDiscoveryResponse:
        """Put `change` in flight (one per type until its ACK or NACK) and make its response."""
        routing = type_url in ROUTING_TYPES
        self._nonces += 1
        state.answered = True
        state.inflight = _Sent(
            str(self._nonces),
            view.version,
            change.fingerprint,
            change.upserts,
            change.removed,
            change.named if routing else NONE,
            view.route_refs if routing else EMPTY_REFS,
            whole,
        )
        state.last_nonce = state.inflight.nonce
        if routing:
            self._pending_changed()
        return discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=view.version,
            type_url=type_url,
            nonce=state.inflight.nonce,
            resources=view.delta_resources(type_url, change.fingerprint, change.upserts),
            removed_resources=change.removed,
        )

    def _learn_held_routes(self, view: ServedView) -> None:
        """After a reconnect, while the held routes are unknown, they are known once their
        versions match ours.

        Not with VHDS: there the held virtual hosts are unknown until the proxy ACKs ours.
        """
        state = self.types[ROUTE_TYPE]
        if state.synced is not None:
            return  # nothing held yet, or what it holds it was sent: known from the ACK
        routes: Mapping[str, Encoded] = view.resources[ROUTE_TYPE]
        if state.holds and all(
            name in routes and routes[name].version == v for name, v in state.holds.items()
        ):
            for name in state.holds:
                state.refs[name] = view.refs(name)
            self._held_routes_changed()


def _forget(state: _TypeState, name: str) -> None:
    """Drop what the proxy holds under `name`, or in the namespace `name` (virtual hosts), so
    that a new subscription to it gets it all again: even the very content it refused before,
    which it asks for anew (withheld, it would hold nothing of it at all)."""
    state.rejected = ""
    state.spell_out()  # it holds less now, also once what is on its way is applied
    if state.inflight is not None:
        state.inflight.whole = None
    for held in [n for n in state.holds if n == name or n.rpartition("/")[0] == name]:
        state.holds.pop(held, None)
        state.resources.pop(held, None)
        state.refs.pop(held, None)
