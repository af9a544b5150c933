"""What the server knows of one open ADS stream, beyond its protocol session: the proxy's node,
which snapshot each in-flight response came from, and its outstanding NACKs.

The xDS edge updates it as responses go out and answers come in; metrics, the proxy registry
and CSDS read it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from controlplane.resources import CLUSTER_TYPE, Encoded
from controlplane.xds._view import EMPTY, Held, ServedView


class Session(Protocol):
    """SotwSession or DeltaSession: the server only feeds requests and views in."""

    def on_request(self, request: Any) -> None: ...
    def responses(self, view: ServedView) -> list[Any]: ...
    def holdings(self) -> dict[str, dict[str, tuple[str, Encoded | None]]]: ...
    @property
    def held(self) -> Held: ...


@dataclass(frozen=True, slots=True)
class Pushed:
    snapshot: str
    """Version of the snapshot the response was built from."""
    published_at: float
    """When that snapshot was published (time.time())."""


@dataclass(frozen=True, slots=True)
class Rejection:
    version: str
    message: str
    at: datetime


@dataclass(slots=True)
class Stream:
    stream_id: int
    node: Any
    """The proxy's envoy.config.core.v3.Node, from the stream's first request."""
    protocol: str
    calls: frozenset[str] | None = None
    """The services the proxy declared it calls (node.metadata.weir_calls); None: it is
    served every service."""
    session: Session | None = None
    view: ServedView | None = None
    """The view the latest responses were computed from."""
    opened: float = field(default_factory=time.monotonic)
    inflight: dict[str, Pushed] = field(default_factory=dict)
    """type_url → the response awaiting an answer."""
    rejected: dict[str, Rejection] = field(default_factory=dict)
    """type_url → the last NACK, until a later response of that type is ACKed."""
    updated: dict[str, datetime] = field(default_factory=dict)
    """type_url → when the proxy last ACKed that type."""
    writing: str | None = None
    """The type of the response being handed to gRPC: set while the proxy's flow control holds
    it back. Nothing else is built for the stream meanwhile, which is what bounds its memory."""
    ignored: frozenset[str] = frozenset()
    """Type URLs the proxy asked for that weir does not serve (logged once each, a few).
    Replaced when one is added: almost no stream has any, and an empty set costs 216 bytes."""

    def ack(self, type_url: str) -> float | None:
        """Record an ACK; returns the convergence time, if the response came from us."""
        self.rejected.pop(type_url, None)
        self.updated[type_url] = datetime.now(UTC)
        pushed = self.inflight.pop(type_url, None)
        return None if pushed is None else time.time() - pushed.published_at

    def nack(self, type_url: str, version: str, message: str) -> None:
        self.inflight.pop(type_url, None)
        self.rejected[type_url] = Rejection(version, message, datetime.now(UTC))

    def sent(self, cluster: str) -> bool:
        """Whether weir sent this proxy `cluster`: it is in the proxy's current view (sent, or
        about to be), or the proxy holds it still (a removal not yet ACKed)."""
        view = self.view
        if view is not None and cluster in view.resources.get(CLUSTER_TYPE, EMPTY):
            return True
        return self.session is not None and cluster in self.session.held.clusters

    def sent_count(self) -> int:
        """How many clusters the proxy's current view holds."""
        view = self.view
        return len(view.resources.get(CLUSTER_TYPE, EMPTY)) if view is not None else 0

    @property
    def settled(self) -> bool:
        """Nothing in flight and nothing rejected: the proxy holds what we would send."""
        return not self.inflight and not self.rejected
