"""Prometheus metrics of the xDS layer, in a CollectorRegistry its owner passes in.

Counted on the event loop by the streams: responses and their bytes, ACKs and NACKs per
resource type, how long a change took from its snapshot's publication to the proxy's ACK, and
how long streams lasted.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from controlplane.xds._registry import type_name

CONVERGENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STREAM_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 86400.0)


class XdsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # The labelled children, looked up once: every response and ACK of every stream counts
        # here, and prometheus_client's labels() takes a lock and builds a tuple each time.
        self._sent: dict[tuple[str, str], tuple[Counter, Counter]] = {}
        self._acked: dict[str, tuple[Counter, Histogram]] = {}
        self._responses = Counter(
            "weir_xds_responses",
            "xDS responses sent, by resource type and protocol",
            ["type", "protocol"],
            registry=registry,
        )
        self._bytes = Counter(
            "weir_xds_response_bytes",
            "Bytes of xDS responses sent, by resource type and protocol",
            ["type", "protocol"],
            registry=registry,
        )
        self._acks = Counter(
            "weir_xds_acks", "xDS responses ACKed, by resource type", ["type"], registry=registry
        )
        self._nacks = Counter(
            "weir_xds_nacks", "xDS responses NACKed, by resource type", ["type"], registry=registry
        )
        self._convergence = Histogram(
            "weir_xds_convergence_seconds",
            "From a snapshot's publication to a proxy's ACK of a response built from it",
            ["type"],
            buckets=CONVERGENCE_BUCKETS,
            registry=registry,
        )
        self._streams = Histogram(
            "weir_xds_stream_duration_seconds",
            "How long closed ADS streams were open, by protocol",
            ["protocol"],
            buckets=STREAM_BUCKETS,
            registry=registry,
        )

    def sent(self, type_url: str, protocol: str, size: int) -> None:
        key = (type_url, protocol)
        if key not in self._sent:
            labels = (type_name(type_url), protocol)
            self._sent[key] = (self._responses.labels(*labels), self._bytes.labels(*labels))
        responses, sizes = self._sent[key]
        responses.inc()
        sizes.inc(size)

    def acked(self, type_url: str, convergence: float | None) -> None:
        if type_url not in self._acked:
            name = type_name(type_url)
            self._acked[type_url] = (self._acks.labels(name), self._convergence.labels(name))
        acks, times = self._acked[type_url]
        acks.inc()
        if convergence is not None:
            times.observe(max(convergence, 0.0))

    def nacked(self, type_url: str) -> None:
        self._nacks.labels(type_name(type_url)).inc()

    def stream_closed(self, protocol: str, duration: float) -> None:
        self._streams.labels(protocol).observe(duration)
