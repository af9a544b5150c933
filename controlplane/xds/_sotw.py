"""State-of-the-world ADS, one stream: requests in, responses out, no I/O.

Per type the session keeps at most one response in flight and waits for its ACK or NACK before
sending the next, so changes that arrive meanwhile coalesce into one response. A NACKed
version is remembered and never sent again; only a new state sends something new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2

from controlplane.resources import (
    CLUSTER_TYPE,
    ROUTE_TYPE,
    TYPE_ORDER,
    Encoded,
)
from controlplane.xds._errors import check_type
from controlplane.xds._view import NONE, ClusterInputs, Held, ServedView, desired

AckHook = Callable[[str, str], None]
NackHook = Callable[[str, str, str], None]


@dataclass(slots=True)
class _Sent:
    version: str
    nonce: str
    resources: dict[str, Encoded]
    refs: frozenset[str] = frozenset()
    """For route configurations: the clusters they name, as sent."""
    # `resources` is shared by every stream sent the same set (ServedView.whole_set).


@dataclass(slots=True)
class _TypeState:
    subscribed: bool = False
    names: set[str] | None = None
    """Requested names; None is a wildcard (all)."""
    claimed: str = ""
    """The version the proxy said it holds when it (re)subscribed; trusted if it matches ours."""
    acked: str = ""
    acked_resources: dict[str, Encoded] = field(default_factory=dict)
    inflight: _Sent | None = None
    rejected: str = ""
    last_nonce: str = ""
    requests: int = 0
    settled: ClusterInputs | None = None
    """For clusters: the inputs for which there was last nothing to send."""


@dataclass(slots=True)
class SotwSession:
    on_ack: AckHook
    on_nack: NackHook
    types: dict[str, _TypeState] = field(
        default_factory=lambda: {t: _TypeState() for t in TYPE_ORDER}
    )
    held: Held = field(default_factory=lambda: Held(clusters={}, route_refs=None))
    _nonces: int = 0

    def on_request(self, request: discovery_pb2.DiscoveryRequest) -> None:
        check_type(request.type_url)
        state = self.types[request.type_url]
        state.requests += 1
        if request.response_nonce and request.response_nonce != state.last_nonce:
            return  # answers a response we have since replaced: ignore, as xDS says
        wildcard = request.type_url != ROUTE_TYPE
        state.names = None if wildcard else set(request.resource_names)
        if not request.response_nonce:
            state.subscribed = True
            state.claimed = request.version_info
            return
        sent, state.inflight = state.inflight, None
        if request.type_url == ROUTE_TYPE:
            self.held.pending_refs = NONE
        if sent is None:
            return
        if request.HasField("error_detail"):
            state.rejected = sent.version
            self.on_nack(request.type_url, sent.version, request.error_detail.message)
            return
        self._acked(request.type_url, state, sent)

    def _acked(self, type_url: str, state: _TypeState, sent: _Sent) -> None:
        state.acked = sent.version
        state.acked_resources = sent.resources
        if type_url == CLUSTER_TYPE:
            self.held.clusters = sent.resources  # shared, never changed in place
        elif type_url == ROUTE_TYPE:
            # What the routes named when they were sent: a newer view may name others by now.
            self.held.route_refs = sent.refs
        self.on_ack(type_url, sent.version)

    def holdings(self) -> dict[str, dict[str, tuple[str, Encoded | None]]]:
        """Per subscribed type, name → (version, resource) of what the proxy ACKed."""
        return {
            type_url: {n: (e.version, e) for n, e in state.acked_resources.items()}
            for type_url, state in self.types.items()
            if state.subscribed
        }

    def responses(self, view: ServedView) -> list[discovery_pb2.DiscoveryResponse]:
        """What to send now for this view, clusters first."""
        out = []
        for type_url in TYPE_ORDER:
            state = self.types[type_url]
            if not state.subscribed or state.inflight is not None:
                continue
            inputs = None
            if type_url == CLUSTER_TYPE:
                inputs = ClusterInputs.of(view, self.held, state.requests)
                if inputs.same_as(state.settled):
                    continue
            wanted = desired(type_url, view, self.held, state.names)
            if wanted is None:
                continue
            whole = view.whole_set(type_url, wanted)
            resources, version, refs = whole.resources, whole.version, whole.refs
            if state.claimed and state.claimed == version and not state.acked:
                # The proxy already holds exactly this (it reconnected): take its word.
                self._acked(type_url, state, _Sent(version, "", resources, refs))
            if version in (state.acked, state.rejected):
                state.settled = inputs
                continue
            self._nonces += 1
            state.inflight = _Sent(version, str(self._nonces), resources, refs)
            if type_url == ROUTE_TYPE:
                self.held.pending_refs = refs
            state.last_nonce = state.inflight.nonce
            out.append(
                discovery_pb2.DiscoveryResponse(
                    version_info=version,
                    type_url=type_url,
                    nonce=state.inflight.nonce,
                    resources=whole.packed,
                )
            )
        return out
