"""A stand-in Prometheus in front of a real Envoy's admin: it answers weir's three PromQL
queries with the sums of what the Envoy counts right now, except the series of `poisoned`
clusters, which read NaN (what a broken recording rule or exporter hands Prometheus)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

import httpx
from prometheus_client.parser import text_string_to_metric_families

from controlplane.defaults import EVIDENCE_STATS
from controlplane.harness import serve_in_thread, stop_serving
from controlplane.stats._promql import queries

REQUESTS, LATENCY, PROXIES, RETRIED, RETRIES = queries()


class PrometheusFront:
    def __init__(self, *, poisoned: str) -> None:
        self.admin: str | None = None
        """The Envoy admin's URL, once it runs; until then, no series at all."""
        self.poisoned = poisoned
        """Clusters whose names start with this read NaN."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread = serve_in_thread(self._server)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop_serving(self._server, self._thread)

    def answer(self, query: str) -> dict[str, Any]:
        if self.admin is None:
            return {"status": "success", "data": {"resultType": "vector", "result": []}}
        text = httpx.get(
            self.admin + "/stats/prometheus",
            params={"usedonly": "", "filter": EVIDENCE_STATS},
            timeout=2.0,
        ).text
        sums: defaultdict[tuple[tuple[str, str], ...], float] = defaultdict(float)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                cluster = sample.labels.get("envoy_cluster_name", "")
                if query == REQUESTS and family.name == "envoy_cluster_upstream_rq_xx":
                    klass = sample.labels["envoy_response_code_class"]
                    key = (("envoy_cluster_name", cluster), ("envoy_response_code_class", klass))
                elif query == LATENCY and sample.name == "envoy_cluster_upstream_rq_time_bucket":
                    key = (("envoy_cluster_name", cluster), ("le", sample.labels["le"]))
                else:
                    continue
                sums[key] += sample.value
        if query == PROXIES:
            result = [{"metric": {}, "value": [0, "1"]}]
        else:
            result = [
                {"metric": dict(key), "value": [0, self._value(dict(key), value)]}
                for key, value in sums.items()
            ]
        return {"status": "success", "data": {"resultType": "vector", "result": result}}

    def _value(self, labels: dict[str, str], value: float) -> str:
        return "NaN" if labels["envoy_cluster_name"].startswith(self.poisoned) else repr(value)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
                body = json.dumps(front.answer(query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # weir gave up waiting: fine
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
