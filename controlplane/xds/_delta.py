"""Incremental (delta) ADS, one stream: requests in, responses out, no I/O.

The session tracks what the proxy holds, name by name, and sends only the difference: changed
or newly subscribed resources, and `removed_resources` for what it should drop. On reconnect
the proxy's `initial_resource_versions` say what it holds, so nothing it already has is resent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2

from controlplane.resources import (
    CLUSTER_TYPE,
    ROUTE_TYPE,
    TYPE_ORDER,
    Encoded,
    content_version,
)
from controlplane.xds._errors import check_type
from controlplane.xds._sotw import AckHook, NackHook
from controlplane.xds._view import Held, ProxyView, desired


@dataclass(slots=True)
class _Sent:
    nonce: str
    system_version: str
    """The snapshot this response came from: what the registry reports as ACKed or NACKed."""
    fingerprint: str
    upserts: dict[str, Encoded]
    removed: list[str]


@dataclass(slots=True)
class _TypeState:
    subscribed: bool = False
    names: set[str] | None = None
    """Explicitly subscribed names; None is a wildcard (all)."""
    holds: dict[str, str] = field(default_factory=dict)
    """Name → version the proxy holds, as far as its ACKs (or its reconnect) tell."""
    resources: dict[str, Encoded] = field(default_factory=dict)
    """The held resources we sent (not those only named by a reconnect)."""
    inflight: _Sent | None = None
    rejected: str = ""
    last_nonce: str = ""
    answered: bool = False
    """Whether the subscription got its first response. Envoy waits for one, even an empty
    one, before it moves on with its initialisation."""


@dataclass
class DeltaSession:
    on_ack: AckHook
    on_nack: NackHook
    types: dict[str, _TypeState] = field(
        default_factory=lambda: {t: _TypeState() for t in TYPE_ORDER}
    )
    held: Held = field(default_factory=lambda: Held(clusters={}, route_refs=None))
    _nonces: int = 0
    _refs: dict[str, frozenset[str]] = field(default_factory=dict)

    def on_request(self, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        check_type(request.type_url)
        state = self.types[request.type_url]
        first = not state.subscribed
        state.subscribed = True
        if first:
            for name, version in request.initial_resource_versions.items():
                state.holds[name] = version
                if request.type_url == CLUSTER_TYPE:
                    self.held.clusters[name] = None
        self._subscribe(request, state, first=first)
        if request.response_nonce and request.response_nonce == state.last_nonce:
            sent, state.inflight = state.inflight, None
            if sent is not None:
                self._answered(request, state, sent)

    def _subscribe(
        self, request: discovery_pb2.DeltaDiscoveryRequest, state: _TypeState, *, first: bool
    ) -> None:
        if request.type_url != ROUTE_TYPE:
            return  # clusters and listeners are wildcard subscriptions
        names = state.names if state.names is not None else set()
        for name in request.resource_names_subscribe:
            if name not in names and not first:
                state.holds.pop(name, None)  # newly subscribed: always send it
            names.add(name)
        for name in request.resource_names_unsubscribe:
            names.discard(name)
            state.holds.pop(name, None)
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
        for name in sent.removed:
            state.holds.pop(name, None)
            state.resources.pop(name, None)
        if type_url == CLUSTER_TYPE:
            self.held.clusters.update(sent.upserts)
            for name in sent.removed:
                self.held.clusters.pop(name, None)
        elif type_url == ROUTE_TYPE:
            refs: set[str] = set()
            for name in state.holds:
                refs |= self._refs.get(name, frozenset())
            self.held.route_refs = frozenset(refs)
        self.on_ack(type_url, sent.system_version)

    def holdings(self) -> dict[str, dict[str, tuple[str, Encoded | None]]]:
        """Per subscribed type, name → (version, resource if known) of what the proxy holds."""
        return {
            type_url: {n: (v, state.resources.get(n)) for n, v in state.holds.items()}
            for type_url, state in self.types.items()
            if state.subscribed
        }

    def responses(self, view: ProxyView) -> list[discovery_pb2.DeltaDiscoveryResponse]:
        self._refs = dict(view.route_refs)
        self._learn_held_routes(view)
        out = []
        for type_url in TYPE_ORDER:
            state = self.types[type_url]
            if not state.subscribed or state.inflight is not None:
                continue
            wanted = desired(type_url, view, self.held, state.names)
            if wanted is None:
                continue
            upserts = {
                name: resource
                for name, resource in wanted.items()
                if resource is not None and state.holds.get(name) != resource.version
            }
            removed = sorted(name for name in state.holds if name not in wanted)
            if not upserts and not removed and state.answered:
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
                continue
            self._nonces += 1
            state.answered = True
            state.inflight = _Sent(str(self._nonces), view.version, fingerprint, upserts, removed)
            state.last_nonce = state.inflight.nonce
            out.append(
                discovery_pb2.DeltaDiscoveryResponse(
                    system_version_info=view.version,
                    type_url=type_url,
                    nonce=state.inflight.nonce,
                    resources=[
                        discovery_pb2.Resource(name=name, version=r.version, resource=r.packed())
                        for name, r in sorted(upserts.items())
                    ],
                    removed_resources=removed,
                )
            )
        return out

    def _learn_held_routes(self, view: ProxyView) -> None:
        """After a reconnect, the held routes are known once their versions match ours."""
        if self.held.route_refs is not None:
            return
        holds = self.types[ROUTE_TYPE].holds
        routes = view.resources[ROUTE_TYPE]
        if holds and all(name in routes and routes[name].version == v for name, v in holds.items()):
            refs: set[str] = set()
            for name in holds:
                refs |= view.route_refs.get(name, frozenset())
            self.held.route_refs = frozenset(refs)
