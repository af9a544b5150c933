"""Incremental (delta) ADS, one stream: requests in, responses out, no I/O.

The session tracks what the proxy holds, name by name, and sends only the difference: changed
or newly subscribed resources, and `removed_resources` for what it should drop. On reconnect
the proxy's `initial_resource_versions` say what it holds, so nothing it already has is resent.

With a VHDS view (what the server gives delta streams) the route configuration carries no
virtual host, and each service's virtual host is a resource of its own: a weight change sends
one virtual host, whatever the size of the mesh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2

from controlplane.resources import (
    CLUSTER_TYPE,
    DELTA_TYPE_ORDER,
    ROUTE_TYPE,
    VHOST_TYPE,
    Encoded,
    content_version,
)
from controlplane.xds._errors import check_type
from controlplane.xds._sotw import AckHook, NackHook
from controlplane.xds._view import (
    NONE,
    ROUTING_TYPES,
    WILDCARD,
    ClusterInputs,
    Held,
    ProxyView,
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
    upserts: dict[str, Encoded]
    removed: list[str]
    refs: dict[str, frozenset[str]]
    """For routing resources: the clusters each upserted one names, as sent."""
    whole: Whole | None = None
    """All of the view's resources of the type, when the proxy holds exactly those once it
    applies this response; None when it holds a choice of them."""


@dataclass(slots=True)
class _TypeState:
    subscribed: bool = False
    names: set[str] | None = None
    """Explicitly subscribed names; None is a wildcard (all)."""
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
    synced: Whole | None = None
    """For routing types: the view's resources that `holds` equals name for name, version
    for version (the proxy ACKed them, or there was nothing to send). The next view's
    difference from them is worked out once for all the streams that hold them. None when
    unknown: after a reconnect or a change of subscription."""


@dataclass(frozen=True, slots=True)
class Whole:
    """All of one view's resources of a routing type, and the clusters they name."""

    resources: Mapping[str, Encoded]
    refs: frozenset[str]


@dataclass(slots=True)
class DeltaSession:
    on_ack: AckHook
    on_nack: NackHook
    types: dict[str, _TypeState] = field(
        default_factory=lambda: {t: _TypeState() for t in DELTA_TYPE_ORDER}
    )
    held: Held = field(init=False)
    _clusters: dict[str, Encoded | None] = field(default_factory=dict)
    """What `held.clusters` is on a delta stream: the proxy's clusters, changed in place."""
    _nonces: int = 0
    _vhds: bool = False
    """Whether the latest view serves virtual hosts by VHDS."""

    def __post_init__(self) -> None:
        self.held = Held(clusters=self._clusters, route_refs=None)

    def on_request(self, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        check_type(request.type_url, DELTA_TYPE_ORDER)
        state = self.types[request.type_url]
        state.requests += 1
        first = not state.subscribed
        state.subscribed = True
        if first:
            for name, version in request.initial_resource_versions.items():
                state.holds[name] = version
                if request.type_url == CLUSTER_TYPE:
                    self._clusters[name] = None
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
        for name, resource in sent.upserts.items():
            state.holds[name] = resource.version
            state.resources[name] = resource
            if name in sent.refs:
                state.refs[name] = sent.refs[name]
        for name in sent.removed:
            state.holds.pop(name, None)
            state.resources.pop(name, None)
            state.refs.pop(name, None)
        state.acked = True
        if type_url == CLUSTER_TYPE:
            self._clusters.update(sent.upserts)
            for name in sent.removed:
                self._clusters.pop(name, None)
        elif type_url in ROUTING_TYPES:
            state.synced = sent.whole
            self._held_routes_changed()
        self.on_ack(type_url, sent.system_version)

    def _held_routes_changed(self) -> None:
        if self._vhds and not self.types[VHOST_TYPE].acked:
            # Envoy does not report the virtual hosts it holds when it reconnects (it asks for
            # them by namespace), so what they name is known once it ACKs ours: until then,
            # every cluster it holds stays.
            return
        named = [_held_refs(self.types[type_url]) for type_url in ROUTING_TYPES]
        named = [refs for refs in named if refs]
        # One type naming clusters (as with VHDS) keeps its set as it is: shared by every
        # stream that holds the same view, so that they compare it by identity.
        if len(named) < 2:
            self.held.route_refs = named[0] if named else NONE
        else:
            self.held.route_refs = frozenset[str]().union(*named)

    def _pending_changed(self) -> None:
        pending: set[str] = set()
        for type_url in ROUTING_TYPES:
            sent = self.types[type_url].inflight
            if sent is not None:
                for named in sent.refs.values():
                    pending |= named
        self.held.pending_refs = frozenset(pending) if pending else NONE

    def holdings(self) -> dict[str, dict[str, tuple[str, Encoded | None]]]:
        """Per subscribed type, name → (version, resource if known) of what the proxy holds."""
        return {
            type_url: {n: (v, state.resources.get(n)) for n, v in state.holds.items()}
            for type_url, state in self.types.items()
            if state.subscribed
        }

    def responses(self, view: ProxyView) -> list[discovery_pb2.DeltaDiscoveryResponse]:
        self._vhds = view.vhds
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
            whole = None
            if type_url in ROUTING_TYPES and wants_all(
                type_url, state.names, everything := view.resources.get(type_url, {})
            ):
                whole = Whole(everything, view.all_refs(type_url))
            if state.synced is not None and whole is not None:
                # The proxy holds all of an earlier view's: what changed since is shared.
                if state.synced.resources is whole.resources:
                    continue
                changes = view.changes_since(type_url, state.synced.resources)
                if not routes_ready(view, list(changes.upserts), self.held):
                    continue
                upserts, removed = changes.upserts, changes.removed
            else:
                wanted = desired(type_url, view, self.held, state.names)
                if wanted is None:
                    continue
                if whole is not None and wanted is not whole.resources:
                    whole = None
                upserts = {
                    name: resource
                    for name, resource in wanted.items()
                    if resource is not None and state.holds.get(name) != resource.version
                }
                removed = sorted(name for name in state.holds if name not in wanted)
            if not upserts and not removed and state.answered:
                state.settled = inputs
                if whole is not None:
                    state.synced = whole
                continue
            fingerprint = content_version(
                "\n".join(
                    [
                        *(f"+{n} {r.version}" for n, r in sorted(upserts.items())),
                        *(f"-{n}" for n in removed),
                    ]
                ).encode()
            )
            if fingerprint == state.rejected:
                state.settled = inputs
                continue
            refs = {n: view.refs(n) for n in upserts} if type_url in ROUTING_TYPES else {}
            self._nonces += 1
            state.answered = True
            state.inflight = _Sent(
                str(self._nonces), view.version, fingerprint, upserts, removed, refs, whole
            )
            state.last_nonce = state.inflight.nonce
            if refs:
                self._pending_changed()
            out.append(
                discovery_pb2.DeltaDiscoveryResponse(
                    system_version_info=view.version,
                    type_url=type_url,
                    nonce=state.inflight.nonce,
                    resources=view.delta_resources(type_url, fingerprint, upserts),
                    removed_resources=removed,
                )
            )
        return out

    def _learn_held_routes(self, view: ProxyView) -> None:
        """After a reconnect, the held routes are known once their versions match ours.

        Not with VHDS: there the held virtual hosts are unknown until the proxy ACKs ours.
        """
        if self.held.route_refs is not None or view.vhds:
            return
        state = self.types[ROUTE_TYPE]
        routes: Mapping[str, Encoded] = view.resources[ROUTE_TYPE]
        if state.holds and all(
            name in routes and routes[name].version == v for name, v in state.holds.items()
        ):
            for name in state.holds:
                state.refs[name] = view.refs(name)
            self._held_routes_changed()


def _forget(state: _TypeState, name: str) -> None:
    """Drop what the proxy holds under `name`, or in the namespace `name` (virtual hosts), so
    that a new subscription to it gets it all again."""
    state.synced = None  # it holds less now, also once what is on its way is applied
    if state.inflight is not None:
        state.inflight.whole = None
    for held in [n for n in state.holds if n == name or n.rpartition("/")[0] == name]:
        state.holds.pop(held, None)
        state.resources.pop(held, None)
        state.refs.pop(held, None)


def _held_refs(state: _TypeState) -> frozenset[str]:
    """The clusters the routing resources the proxy holds of one type name."""
    if state.synced is not None:
        return state.synced.refs
    return frozenset[str]().union(*state.refs.values())
