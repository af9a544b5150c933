"""push: Envoy's metrics_service sink streams each stats flush to weir's gRPC port.

`weir bootstrap` configures the sink (`envoy.stat_sinks.metrics_service`, 1 s flush, counters
as deltas, tags as labels, histograms as histograms, at most 1,000 metrics a message). The sink
sends every stat Envoy ever used, each metric a family of its own; weir reads the families
below and passes over the rest without decoding them (stats/_wire.py finds weir's in each
message's bytes, so its cost grows with weir's share of a message). Seen with Envoy 1.40:

- a stream's first message carries `identifier.node` (about 60 KB: the node lists every
  extension Envoy has); later messages carry only metrics;
- `cluster.upstream_rq_xx` is a COUNTER family labelled `envoy.cluster_name` and
  `envoy.response_code_class` ("2", "5"), its value the change since the previous flush;
- `cluster.retry.upstream_rq_xx` (responses Envoy retried) is labelled the same way, and
  `cluster.upstream_rq_retry` (retries made) by `envoy.cluster_name` alone;
- `cluster.upstream_rq_time` is a HISTOGRAM family labelled `envoy.cluster_name` whose
  buckets (cumulative over bounds, no +Inf bucket) and sample_count cover only the interval
  since the previous flush, not the proxy's lifetime.

So every flush is a delta, added to that proxy's totals. A proxy counts as reporting while
its flushes keep coming; one silent for `forget_after_s` leaves its counts in the sums.

Stats are evidence, so the sink takes them only from a proxy it can name, and only what that
proxy could have seen:

- *Who.* Envoy opens its metrics stream over the `weir_xds` cluster, on the very HTTP/2
  connection that carries its ADS stream (seen with Envoy 1.40: the same peer address and
  port). So a metrics stream speaks for node N only if N holds an ADS stream on the same
  connection (waiting up to `bind_wait_s` for it); over mTLS the certificate must also name N.
  A stream names its node once: naming another later ends it. A client of its own, without an
  ADS stream on its connection, is refused with UNAUTHENTICATED and nothing it sent counts.
- *What.* Only clusters weir sent that proxy (its view, or what it still holds) are counted;
  a negative or non-finite count ends the stream (a delta cannot be negative: it is a lie,
  never a credit), and so do bytes that are no StreamMetricsMessage or whose families are not
  where their bytes say (stats/_wire.py).
- *How big.* A message may carry `batch_size` families, in no more bytes than that many
  metrics take (`max_metric_bytes` each on average; its identifier not counted), and no more
  metrics in weir's families than the proxy's clusters could carry; a stream may send no
  more messages than flushes. A message beyond any of these ends the stream. Each bound costs
  O(1) or O(weir's families): the families weir passes over are counted in C, never read.
- *How much.* One proxy's requests in a flush are bounded by `max_rps` times the seconds
  since its previous flush (at least one, at most ten); a flush claiming more is refused.
- *Against the others.* What the proxies claim about one instance must agree (stats/_claims):
  a proxy that contradicts the others puts the instance in dispute, and nothing more about it
  reaches the evaluator until the dispute ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

import grpc

from controlplane.model import ProxyReading, Scrape
from controlplane.stats._claims import Claims
from controlplane.stats._counts import Reading
from controlplane.stats._errors import SourceUnavailable
from controlplane.stats._proto import metrics_service_pb2, prometheus_metrics_pb2
from controlplane.stats._push_limits import PushLimits
from controlplane.stats._wire import BadMessage, Frame, Wanted
from controlplane.xds import close_requests, identity_refusal

log = logging.getLogger(__name__)

SERVICE = metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"]
STREAM_METRICS = SERVICE.methods_by_name["StreamMetrics"]
METHOD_PATH = f"/{SERVICE.full_name}/{STREAM_METRICS.name}"
"""/envoy.service.metrics.v3.MetricsService/StreamMetrics"""

REQUESTS_FAMILY = "cluster.upstream_rq_xx"
RETRIED_FAMILY = "cluster.retry.upstream_rq_xx"
RETRIES_FAMILY = "cluster.upstream_rq_retry"
LATENCY_FAMILY = "cluster.upstream_rq_time"
CLUSTER_LABEL = "envoy.cluster_name"
CLASS_LABEL = "envoy.response_code_class"

FRESH_S = 5.0
"""A proxy whose last flush is older than this (five 1 s flushes) is not reporting."""
FORGET_AFTER_S = 600.0
MAX_NODE_ID = 1024

StreamMetricsMessage = metrics_service_pb2.StreamMetricsMessage
MetricFamily = prometheus_metrics_pb2.MetricFamily
EVIDENCE = Wanted((REQUESTS_FAMILY, RETRIED_FAMILY, RETRIES_FAMILY, LATENCY_FAMILY))
"""The families read_flush reads, found in a pushed message's bytes."""


class Connection(Protocol):
    """The ADS streams one proxy holds on one connection (the xDS server's Connection)."""

    def sent(self, cluster: str) -> bool:
        """Whether those streams were sent `cluster`: the metrics may report on it."""
        ...

    def sent_count(self) -> int: ...


class ProxyDirectory(Protocol):
    """Which proxies hold ADS streams, and on which connections (the xDS server's
    ProxyRegistry, which the caller passes)."""

    def connection(self, peer: str, node_id: str) -> Connection | None: ...


class BadFlush(ValueError):
    """A flush no Envoy sends: a negative or non-finite count."""


def _count(value: float, what: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise BadFlush(f"{what} is {value!r}: a count is a finite number, never below zero")
    return value


def read_flush(
    families: Iterable[MetricFamily], sent: Callable[[str], bool] | None = None
) -> Reading:
    """The evidence in one flush (deltas, as the sink sends them), about the clusters `sent`
    admits (all when None). Raises BadFlush on a count no Envoy sends."""
    reading = Reading()
    for family in families:
        name = family.name
        if name in (REQUESTS_FAMILY, RETRIED_FAMILY):
            add = reading.response_class if name == REQUESTS_FAMILY else reading.retried_class
            for metric in family.metric:
                value = _count(metric.counter.value, name)
                if not value:
                    continue  # most clusters of a big config see nothing in a second
                cluster = klass = ""
                for label in metric.label:
                    if label.name == CLUSTER_LABEL:
                        cluster = label.value
                    elif label.name == CLASS_LABEL:
                        klass = label.value
                if sent is None or sent(cluster):
                    add(cluster, klass, value)
        elif name == RETRIES_FAMILY:
            for metric in family.metric:
                value = _count(metric.counter.value, RETRIES_FAMILY)
                if not value:
                    continue
                cluster = next((lb.value for lb in metric.label if lb.name == CLUSTER_LABEL), "")
                if sent is None or sent(cluster):
                    reading.retries(cluster, value)
        elif name == LATENCY_FAMILY:
            for metric in family.metric:
                histogram = metric.histogram
                if not _count(histogram.sample_count, LATENCY_FAMILY):
                    continue
                cluster = next((lb.value for lb in metric.label if lb.name == CLUSTER_LABEL), "")
                if sent is None or sent(cluster):
                    reading.histogram(cluster, _buckets(histogram), histogram.sample_count)
    return reading


def _buckets(histogram: prometheus_metrics_pb2.Histogram) -> list[tuple[float, float]]:
    return [
        (bucket.upper_bound, _count(bucket.cumulative_count, LATENCY_FAMILY))
        for bucket in histogram.bucket
    ]


class _Refused(Exception):
    """A stream the sink ends: its gRPC status and why."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Pace:
    """A token bucket: at most `rate` messages a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate, self._burst = rate, burst
        self._tokens, self._at = float(burst), now

    def take(self, now: float, scale: int = 1) -> bool:
        """One message; `scale` multiplies the rate and the burst (messages a flush)."""
        self._tokens = min(
            self._burst * scale, self._tokens + (now - self._at) * self._rate * scale
        )
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class PushSource:
    """The receiving end of the sink, and a StatsSource over what it received.

    Register `handler()` on the gRPC server that serves ADS, and give it that server's
    `directory` (its ProxyRegistry): a metrics stream counts only for a proxy holding an ADS
    stream on the same connection; without a directory every stream is refused. The streams
    and `scrape()` run on that server's event loop.
    """

    def __init__(
        self,
        *,
        directory: ProxyDirectory | None = None,
        limits: PushLimits | None = None,
        fresh_s: float = FRESH_S,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self.limits = limits or PushLimits()
        self._fresh_s = fresh_s
        self._forget_after_s = forget_after_s
        self._clock = clock
        self._claims = Claims(
            max_series=self.limits.max_series, probation_s=self.limits.probation_s
        )
        self._last_flush: dict[str, float] = {}
        self._rejected: dict[str, dict[str, str]] = {}
        """Per proxy, the clusters its latest flush carried impossible counts for, and why."""
        self.flushes = 0
        self.refusals: Counter[str] = Counter()
        """Why flushes or streams were refused, counted."""

    def receive(
        self,
        node_id: str,
        families: Iterable[MetricFamily],
        sent: Callable[[str], bool] | None = None,
    ) -> None:
        """Fold one flush from proxy `node_id` into its claims: the clusters `sent` admits (all
        when None), if no more requests than its rate allows. Raises BadFlush on a count no
        Envoy sends; a cluster whose histogram is impossible is refused alone (`rejected`)."""
        reading = read_flush(families, sent)
        counts = reading.counts()
        now = self._clock()
        since = now - self._last_flush.get(node_id, now - 1.0)
        self._last_flush[node_id] = now
        allowed = self.limits.max_rps * min(10.0, max(1.0, since))
        claimed = sum(max(c.requests, sum(c.latency)) for c in counts.values())
        if claimed > allowed:
            self._refuse(
                node_id,
                "rate",
                f"a flush claiming {claimed} requests, more than {allowed:.0f} "
                f"({self.limits.max_rps:g} a second): not counted",
            )
            return
        self._claims.add(node_id, counts, now)
        rejected = reading.rejected()  # a histogram that goes down: that cluster alone
        if rejected or node_id in self._rejected:
            self._rejected[node_id] = rejected
        self.flushes += 1

    def _refuse(self, node_id: str, reason: str, message: str) -> None:
        self.refusals[reason] += 1
        count = self.refusals[reason]
        if count == 1 or count % 100 == 0:  # a flood of refusals must not flood the log
            log.warning("metrics from %s refused (%d so far): %s", node_id, count, message)

    async def scrape(self) -> Scrape:
        now = self._clock()
        self._claims.settle(now)
        heard = self._claims.heard()
        for node_id, at in heard.items():
            if now - at > self._forget_after_s:
                self._claims.forget(node_id)
                self._last_flush.pop(node_id, None)
                self._rejected.pop(node_id, None)
        reporting = sum(1 for at in heard.values() if now - at <= self._fresh_s)
        if not reporting:
            raise SourceUnavailable(
                f"no proxy has pushed stats in the last {self._fresh_s:g}s "
                "(the metrics_service sink of `weir bootstrap` streams them)"
            )
        return Scrape(
            at=now,
            clusters=self._claims.sums(),
            reporting=reporting,
            disputed=self._claims.disputes(),
            rejected={c: why for node in self._rejected.values() for c, why in node.items()},
        )

    def readings(self) -> list[ProxyReading]:
        """Per proxy, the counts this process received from it and handed on (each flush a
        delta; disputed claims held back)."""
        return [
            ProxyReading(node_id, heard, self._claims.published(node_id), own_counters=False)
            for node_id, heard in sorted(self._claims.heard().items())
        ]

    def disputes(self) -> dict[str, str]:
        """Instance cluster → why the proxies' claims about it are in dispute."""
        return self._claims.disputes()

    # The gRPC side.

    def handler(self) -> Any:
        """A grpc.GenericRpcHandler serving MetricsService/StreamMetrics."""
        return grpc.method_handlers_generic_handler(
            SERVICE.full_name,
            {
                STREAM_METRICS.name: grpc.stream_unary_rpc_method_handler(
                    self._stream,
                    request_deserializer=None,  # bytes: stats/_wire.py reads them
                    response_serializer=metrics_service_pb2.StreamMetricsResponse.SerializeToString,
                )
            },
        )

    async def _stream(
        self, messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> metrics_service_pb2.StreamMetricsResponse:
        """One metrics stream. A refused one ends with its status set, never by raising (see
        xds/_server.py: an aborted call's frame, and the flush it held, would linger)."""
        peer = context.peer()
        refused: _Refused | None = None
        node_id = ""
        try:
            node_id, refused = await self._take(messages, context, peer)
        finally:
            await close_requests(messages)  # else grpc.aio keeps the last one (xds/_requests)
            if node_id:
                log.info("metrics stream from %s closed", node_id)
        if refused is not None:
            self._refuse(node_id or peer, refused.code.name.lower(), str(refused))
            context.set_code(refused.code)
            context.set_details(str(refused))
        return metrics_service_pb2.StreamMetricsResponse()

    async def _take(
        self,
        messages: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext,
        peer: str,
    ) -> tuple[str, _Refused | None]:
        """Fold in the stream's flushes until it ends; its node, and why it was refused."""
        node_id = ""
        pace = _Pace(self.limits.messages_per_s, self.limits.message_burst, time.monotonic())
        try:
            async for raw in messages:
                frame = self.read(raw)
                if frame.node_id:
                    node_id = self._named(node_id, frame.node_id, context, peer)
                if not node_id:
                    raise _Refused(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "the first message of a metrics stream must carry identifier.node.id",
                    )
                connection = await self._connection(peer, node_id)
                per_flush = self.limits.messages_a_flush(connection.sent_count())
                if not pace.take(time.monotonic(), per_flush):
                    raise _Refused(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"more than {self.limits.messages_per_s:g} stats flushes a second "
                        f"({per_flush} messages each at most, for the proxy's clusters)",
                    )
                self._check_size(frame, connection)
                try:
                    families = EVIDENCE.families(frame)
                    self._check_metrics(families, connection)
                    self.receive(node_id, families, connection.sent)
                except (BadMessage, BadFlush) as exc:
                    raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except _Refused as refused:
            return node_id, refused.with_traceback(None)
        return node_id, None

    def _named(self, node_id: str, named: str, context: grpc.aio.ServicerContext, peer: str) -> str:
        """The stream's node once a message names `named`: the first name is checked (over
        mTLS, against the certificate), and a stream never changes it."""
        if node_id:
            if named != node_id:
                raise _Refused(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"a metrics stream speaks for one proxy: it named {node_id!r}, "
                    f"then {named[:64]!r}",
                )
            return node_id
        if len(named) > MAX_NODE_ID or not named.isprintable():
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"identifier.node.id must be at most {MAX_NODE_ID} printable characters",
            )
        refusal = identity_refusal(context.auth_context(), named)
        if refusal is not None:  # over mTLS a proxy reports only as the node its cert names
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED, refusal)
        log.info("metrics stream from %s (%s)", named, peer)
        return named

    async def _connection(self, peer: str, node_id: str) -> Connection:
        """The ADS streams `node_id` holds on this stream's connection, waiting a while for
        one (Envoy may flush before its ADS stream is up); refused if none comes."""
        waited = 0.0
        step = 0.05
        while True:
            found = self._directory.connection(peer, node_id) if self._directory else None
            if found is not None:
                return found
            if waited >= self.limits.bind_wait_s:
                raise _Refused(
                    grpc.StatusCode.UNAUTHENTICATED,
                    f"no ADS stream of node {node_id!r} on this connection ({peer}): weir "
                    "takes a proxy's stats only on the connection of its own ADS stream, as "
                    "Envoy's metrics sink over the weir_xds cluster sends them",
                )
            await asyncio.sleep(step)
            waited += step

    def read(self, raw: bytes) -> Frame:
        """One pushed message's bytes, decoded but for its families (stats/_wire.py)."""
        try:
            return Frame.decode(raw)
        except BadMessage as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None

    def _most_metrics(self, connection: Connection) -> int:
        """Metrics a message may carry: a batch, or what the proxy's clusters could fill."""
        limits = self.limits
        return min(limits.metrics_a_flush(connection.sent_count()), limits.max_families)

    def _check_size(self, frame: Frame, connection: Connection) -> None:
        """The message's families and bytes, before any family is read: O(1)."""
        limits = self.limits
        if frame.family_count > limits.max_families:
            raise _Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{frame.family_count} metric families in one message, more than "
                f"{limits.max_families}",
            )
        most = self._most_metrics(connection)
        size = frame.size - frame.identifier_size
        if size > most * limits.max_metric_bytes:
            raise _Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{size} bytes of metrics in one message, more than the "
                f"{most * limits.max_metric_bytes} that {most} metrics (what the proxy's "
                f"{connection.sent_count()} clusters could carry) take at most",
            )

    def _check_metrics(self, families: Iterable[MetricFamily], connection: Connection) -> None:
        """The metrics of weir's families in the message: O(weir's families)."""
        most = self._most_metrics(connection)
        metrics = sum(len(family.metric) for family in families)
        if metrics > most:
            raise _Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{metrics} metrics in weir's families of one message, more than the {most} "
                f"the proxy's {connection.sent_count()} clusters could carry",
            )
