"""What one proxy should hold, and the make-before-break rules that order how it gets there.

A proxy's view is the shared snapshot plus its own listener, in the form its protocol carries:
SotW streams get the route configuration with every virtual host inline; delta streams get it
with a `vhds` source and each virtual host as its own resource, so that a change to one service
sends that service's virtual host alone. The rules, applied per stream to what that proxy has
acknowledged:

- clusters: everything in the snapshot, plus every cluster a route the proxy still holds (or
  was sent and may apply any moment) names — so a cluster leaves only after the route update
  that stops naming it is ACKed, and never while a route naming it is on its way;
- routes (route configurations and virtual hosts): sent only once every cluster they name is
  ACKed — so a route never names a cluster the proxy does not have yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2

from controlplane.resources import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    VHOST_TYPE,
    Encoded,
    Resources,
    content_version,
    scoped,
    set_version,
)

ROUTING_TYPES = (ROUTE_TYPE, VHOST_TYPE)
"""The types whose resources name clusters, and whose names a proxy subscribes to."""
NONE: frozenset[str] = frozenset()
"""No names (CPython makes a new empty frozenset, 216 bytes, at every `frozenset()`)."""
EMPTY: Mapping[str, Encoded] = MappingProxyType({})
EMPTY_REFS: Mapping[str, frozenset[str]] = MappingProxyType({})
WILDCARD = "*"
"""The name that subscribes to every resource of a type, beside any named ones."""


@dataclass(frozen=True, slots=True)
class ServedView:
    """What the server serves one kind of proxy: the snapshot with that proxy's listener, in the
    form its protocol carries. Proxies alike share one (ViewCache), and with it the work each
    change takes."""

    version: str
    """The snapshot's version: the same state gives the same version, also after a restart."""
    resources: Mapping[str, Mapping[str, Encoded]]
    """type_url → name → resource."""
    route_refs: Mapping[str, frozenset[str]]
    """Route configuration or virtual host name → the clusters it names (absent: none)."""
    vhds: bool = False
    """Whether the virtual hosts come by VHDS (delta) rather than inline (SotW)."""
    _sets: dict[str, WholeSet] = field(default_factory=dict, compare=False, repr=False)
    """type_url → every resource of the type as a SotW response carries it, once worked out."""
    _all_refs: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)
    """type_url → the clusters all the routing resources of the type name, once worked out."""
    _delta: dict[tuple[str, str], list[Any]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Delta responses' resources by the fingerprint of their content, once made."""
    _changes: dict[tuple[str, int], Changes] = field(
        default_factory=dict, compare=False, repr=False
    )
    """(type_url, id of an earlier mapping of the type) → what changed since it, once made."""
    _wholes: dict[str, Whole] = field(default_factory=dict, compare=False, repr=False)
    """type_url → all of the view's resources of the type, as delta streams hold them."""
    _covered: dict[tuple[str, int], tuple[Mapping[str, Encoded | None], bool]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """(type_url, id of a cluster mapping) → whether it holds every cluster the type's
    resources name, once worked out (the mapping kept: an id can be reused)."""

    @classmethod
    def of(cls, snapshot: Resources, listener: Encoded, protocol: str = "sotw") -> ServedView:
        """The view for a stream speaking `protocol` ("sotw" or "delta").

        A delta stream gets VHDS once there is a virtual host to send: Envoy holds its
        listener back until its first VHDS update, and an empty answer does not count as one.
        """
        if protocol == "delta" and snapshot.virtual_hosts:
            return cls(
                version=snapshot.version,
                resources={
                    CLUSTER_TYPE: snapshot.clusters,
                    LISTENER_TYPE: {listener.name: listener},
                    ROUTE_TYPE: snapshot.vhds_routes,
                    VHOST_TYPE: snapshot.virtual_hosts,
                },
                # The VHDS route configuration names no cluster; its virtual hosts do.
                route_refs=snapshot.vhost_refs,
                vhds=True,
            )
        return cls(
            version=snapshot.version,
            resources={
                CLUSTER_TYPE: snapshot.clusters,
                LISTENER_TYPE: {listener.name: listener},
                ROUTE_TYPE: snapshot.routes,
            },
            route_refs=snapshot.cluster_refs,
        )

    def refs(self, name: str) -> frozenset[str]:
        return self.route_refs.get(name, NONE)

    def all_refs(self, type_url: str) -> frozenset[str]:
        """The clusters all of the view's resources of a routing type name."""
        if type_url not in self._all_refs:
            named = (self.refs(n) for n in self.resources.get(type_url, {}))
            self._all_refs[type_url] = frozenset[str]().union(*named)
        return self._all_refs[type_url]

    def share_refs(self, earlier: ServedView) -> None:
        """Take `earlier`'s sets of routed clusters where they equal this view's (as after a
        weight change), so that a stream tells an unchanged set apart by identity rather
        than by comparing thousands of names, once per view instead of once per stream."""
        for type_url in ROUTING_TYPES:
            if type_url in self.resources and type_url in earlier.resources:
                refs = earlier.all_refs(type_url)
                if self.all_refs(type_url) == refs:
                    self._all_refs[type_url] = refs

    def whole(self, type_url: str) -> Whole:
        """All of the view's resources of a type, as a delta stream holding them all keeps
        them: one object per view, shared by every such stream."""
        if type_url not in self._wholes:
            routing = type_url in ROUTING_TYPES
            self._wholes[type_url] = Whole(
                self.resources.get(type_url, EMPTY),
                self.all_refs(type_url) if routing else NONE,
                self.route_refs if routing else EMPTY_REFS,
            )
        return self._wholes[type_url]

    def covers(self, type_url: str, clusters: Mapping[str, Encoded | None]) -> bool:
        """Whether `clusters` holds every cluster this view's resources of a routing type
        name. `clusters` must never change in place (sessions replace theirs): the answer is
        kept for every stream that holds the same set, as most do."""
        key = (type_url, id(clusters))
        known = self._covered.get(key)
        if known is None or known[0] is not clusters:
            known = self._covered[key] = (clusters, clusters.keys() >= self.all_refs(type_url))
        return known[1]

    def changes_since(self, type_url: str, before: Mapping[str, Encoded]) -> Changes:
        """What differs between `before` (an earlier view's resources of the type) and this
        view's: worked out once per view for every delta stream that held all of `before`,
        as most streams do after a change, in place of comparing each stream's virtual
        hosts, one by one, every stream."""
        key = (type_url, id(before))
        changes = self._changes.get(key)
        if changes is None or changes.before is not before:  # an id can be reused
            route_refs = self.route_refs if type_url in ROUTING_TYPES else EMPTY_REFS
            after = self.resources.get(type_url, EMPTY)
            changes = self._changes[key] = Changes.between(before, after, route_refs)
        return changes

    def delta_resources(
        self, type_url: str, fingerprint: str, upserts: Mapping[str, Encoded]
    ) -> list[Any]:
        """`upserts` as a delta response's resources, in name order. Streams that need the
        same (`fingerprint`: a hash of the names and versions, as DeltaSession makes it), as
        most do after a change, share one list made once per view."""
        key = (type_url, fingerprint)
        if key not in self._delta:
            self._delta[key] = [
                discovery_pb2.Resource(name=name, version=r.version, resource=r.packed())
                for name, r in sorted(upserts.items())
            ]
        return self._delta[key]

    def whole_set(self, type_url: str, resources: Mapping[str, Encoded | None]) -> WholeSet:
        """`resources` as a SotW response carries them. When they are all of the view's
        resources of the type, as for almost every stream, it is worked out once per view
        (so once per snapshot, whatever the number of streams that share the view)."""
        shared = resources is self.resources.get(type_url)
        if shared and type_url in self._sets:
            return self._sets[type_url]
        whole = WholeSet.of(resources, self.route_refs if type_url in ROUTING_TYPES else {})
        if shared and type_url in ROUTING_TYPES and whole.refs == self.all_refs(type_url):
            # The set that share_refs keeps from view to view while it stays the same.
            whole = replace(whole, refs=self.all_refs(type_url))
        if shared:
            self._sets[type_url] = whole
        return whole


@dataclass(frozen=True, slots=True)
class Whole:
    """A set of resources of one type that a delta proxy holds exactly, name for name and
    version for version: all of one view's, or none (EMPTY_WHOLE, a new stream's)."""

    resources: Mapping[str, Encoded]
    refs: frozenset[str]
    """For routing types: the clusters they name, all together."""
    route_refs: Mapping[str, frozenset[str]]
    """For routing types: name → the clusters that one names (absent: none)."""


@dataclass(frozen=True, slots=True)
class Changes:
    """The difference between two mappings of one type's resources, by version."""

    before: Mapping[str, Encoded]
    """The earlier mapping (kept: its id is the key the changes are found by)."""
    upserts: dict[str, Encoded]
    """Added or changed: name → the newer resource (never changed once made: streams share it)."""
    removed: list[str]
    """Gone, in name order."""
    fingerprint: str
    """delta_fingerprint of the two."""
    named: frozenset[str]
    """The clusters the upserted routing resources name."""

    @classmethod
    def between(
        cls,
        before: Mapping[str, Encoded],
        after: Mapping[str, Encoded],
        route_refs: Mapping[str, frozenset[str]],
    ) -> Changes:
        upserts = {
            name: resource
            for name, resource in after.items()
            if (earlier := before.get(name)) is None or earlier.version != resource.version
        }
        removed = sorted(name for name in before if name not in after)
        named = frozenset[str]().union(*(route_refs.get(n, NONE) for n in upserts))
        return cls(before, upserts, removed, delta_fingerprint(upserts, removed), named)


def delta_fingerprint(upserts: Mapping[str, Encoded], removed: list[str]) -> str:
    """A hash of a delta response's content: its upserted names and versions, its removals."""
    lines = [
        *(f"+{n} {r.version}" for n, r in sorted(upserts.items())),
        *(f"-{n}" for n in removed),
    ]
    return content_version("\n".join(lines).encode())


@dataclass(frozen=True, slots=True)
class WholeSet:
    """A set of resources of one type, as a SotW response carries them."""

    resources: dict[str, Encoded]
    """Name → resource, in name order (never changed once made: streams share it)."""
    version: str
    """The set's version (set_version)."""
    refs: frozenset[str]
    """The clusters its routing resources name (none for other types)."""
    packed: list[Any]
    """The resources packed in Any, in name order."""

    @classmethod
    def of(
        cls, resources: Mapping[str, Encoded | None], route_refs: Mapping[str, frozenset[str]]
    ) -> WholeSet:
        # SotW sends whole resources: a cluster known only by name cannot be part of it.
        ordered = {n: e for n, e in sorted(resources.items()) if e is not None}
        refs = frozenset[str]().union(*(route_refs.get(n, ()) for n in ordered))
        return cls(ordered, set_version(ordered), refs, [r.packed() for r in ordered.values()])


ViewKey = tuple[Encoded, str, frozenset[str] | None]
"""A view's listener, protocol and scope (None: every service)."""


class ViewCache:
    """The current view per listener, protocol and scope, shared by every stream that has it.

    What no stream asked for while a snapshot was current is forgotten when the next one comes
    (each stream asks at every publication), so the cache holds what the connected proxies
    use, however many listeners or scopes proxies named before."""

    def __init__(self) -> None:
        self._views: dict[ViewKey, tuple[Resources, ServedView]] = {}
        self._scoped: dict[frozenset[str], tuple[Resources, Resources]] = {}
        """Scope → the snapshot it was narrowed from, and the narrowed snapshot."""
        self._current: Resources | None = None
        self._asked: set[ViewKey] = set()

    def of(
        self,
        snapshot: Resources,
        listener: Encoded,
        protocol: str,
        scope: frozenset[str] | None = None,
    ) -> ServedView:
        if snapshot is not self._current:
            self._forget_unasked()
            self._current = snapshot
        key = (listener, protocol, scope)
        self._asked.add(key)
        served = snapshot if scope is None else self._narrowed(snapshot, scope)
        held = self._views.get(key)
        if held is None or held[0] is not served:
            view = ServedView.of(served, listener, protocol)
            if held is not None:
                view.share_refs(held[1])
            held = self._views[key] = (served, view)
        return held[1]

    def _narrowed(self, snapshot: Resources, scope: frozenset[str]) -> Resources:
        held = self._scoped.get(scope)
        if held is None or held[0] is not snapshot:
            held = self._scoped[scope] = (
                snapshot,
                scoped(snapshot, scope, held[1] if held is not None else None),
            )
        return held[1]

    def _forget_unasked(self) -> None:
        for key in self._views.keys() - self._asked:
            del self._views[key]
        scopes = {scope for _, _, scope in self._asked}
        for scope in self._scoped.keys() - scopes:
            del self._scoped[scope]
        self._asked = set()


@dataclass(slots=True)
class Held:
    """What the proxy is known to hold (ACKed), per type."""

    clusters: Mapping[str, Encoded | None]
    """Cluster name → the resource, or None when the proxy told us only the name (reconnect).
    Replaced, never changed in place: often shared with every stream that ACKed the same
    (the view's own mapping, or a SotW response's set), so checks on it are kept per view."""
    route_refs: frozenset[str] | None
    """Clusters named by the routes the proxy holds; None while unknown (fresh stream)."""
    pending_refs: frozenset[str] = frozenset()
    """Clusters named by routes sent and not answered yet: the proxy may hold them any moment."""


def desired_clusters(view: ServedView, held: Held) -> Mapping[str, Encoded | None]:
    """The clusters to hold now: the snapshot's, and any that held or in-flight routes name.

    While the held routes are unknown (after a reconnect, before our first route ACK), nothing
    the proxy reported holding is dropped. When that adds nothing, as it mostly does, the
    answer is the view's own mapping (not a copy: callers only read it).
    """
    clusters = view.resources[CLUSTER_TYPE]
    keep = held.clusters.keys() if held.route_refs is None else held.route_refs | held.pending_refs
    extra = {n: held.clusters[n] for n in keep if n not in clusters and n in held.clusters}
    return {**clusters, **extra} if extra else clusters


@dataclass(frozen=True, slots=True)
class ClusterInputs:
    """Everything a stream's clusters are worked out from, beside its own requests.

    A session that found nothing to send for these inputs skips the clusters while they stay
    the same: at 5,000 clusters, comparing every version costs a millisecond a stream. The
    builder hands out the very same mapping while the clusters do not change, so a weight
    change is told apart at a glance.
    """

    clusters: Mapping[str, Encoded]
    route_refs: frozenset[str] | None
    pending_refs: frozenset[str]
    requests: int
    """How many requests of the type the session had taken in (each may change what is held)."""

    @classmethod
    def of(cls, view: ServedView, held: Held, requests: int) -> ClusterInputs:
        return cls(view.resources[CLUSTER_TYPE], held.route_refs, held.pending_refs, requests)

    def same_as(self, other: ClusterInputs | None) -> bool:
        return (
            other is not None
            and self.clusters is other.clusters
            and self.requests == other.requests
            and _same(self.route_refs, other.route_refs)
            and _same(self.pending_refs, other.pending_refs)
        )


def _same(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    # Identity first: CPython compares two equal sets name by name, even one with itself.
    return a is b or a == b


def wanted_names(type_url: str, view: ServedView, names: set[str] | None) -> list[str]:
    """The names of one routing type the proxy asks for and the snapshot has, in order.

    `names` are the subscribed names (None or `*` among them: all). A virtual host may also be
    asked for by its namespace, the name of its route configuration: `weir` for `weir/<host>`.
    """
    available = view.resources.get(type_url, {})
    if names is None or WILDCARD in names:
        return sorted(available)
    if type_url != VHOST_TYPE:
        return sorted(names & available.keys())
    return sorted(n for n in available if n in names or n.rpartition("/")[0] in names)


def desired(
    type_url: str, view: ServedView, held: Held, names: set[str] | None
) -> Mapping[str, Encoded | None] | None:
    """What the proxy should hold of one type now, or None while routes must wait.

    `names` are the subscribed route configurations or virtual hosts (None: all); clusters and
    listeners are wildcard subscriptions. All of the view's resources of the type come as
    the view's own mapping, which callers only read.
    """
    if type_url == CLUSTER_TYPE:
        return desired_clusters(view, held)
    if type_url == LISTENER_TYPE:
        return view.resources[LISTENER_TYPE]
    resources = view.resources.get(type_url, {})
    if wants_all(type_url, names, resources):
        # What almost every stream asks for: checked against what the view worked out once.
        return resources if view.covers(type_url, held.clusters) else None
    wanted = wanted_names(type_url, view, names)
    if not routes_ready(view, wanted, held):
        return None
    return {name: resources[name] for name in wanted}


def wants_all(type_url: str, names: set[str] | None, available: Mapping[str, Encoded]) -> bool:
    if names is None or WILDCARD in names:
        return True
    return type_url != VHOST_TYPE and names.issuperset(available)


def routes_ready(view: ServedView, wanted: list[str], held: Held) -> bool:
    """Whether every cluster the wanted routing resources name is held by the proxy."""
    return all(
        cluster in held.clusters for name in wanted for cluster in view.route_refs.get(name, ())
    )


EMPTY_WHOLE = Whole(EMPTY, NONE, EMPTY_REFS)
"""What a new delta stream holds: nothing (unless its first request names what it kept)."""
