"""Envoy admin's /stats/prometheus text, as Envoy 1.40 writes it for weir's evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.stats import LATENCY_BOUNDS_MS


def _bound(bound: float) -> str:
    return f"{bound:g}"


def exposition(
    requests: Mapping[str, Mapping[str, int]], latency: Mapping[str, Sequence[int]]
) -> str:
    """requests: {"web--a": {"2": 9}}; latency: samples per slot of LATENCY_BOUNDS_MS."""
    lines = ["# TYPE envoy_cluster_upstream_rq_xx counter"]
    for cluster, classes in requests.items():
        for klass, value in classes.items():
            lines.append(
                "envoy_cluster_upstream_rq_xx"
                f'{{envoy_response_code_class="{klass}",envoy_cluster_name="{cluster}"}} {value}'
            )
    lines.append("# TYPE envoy_cluster_upstream_rq_time histogram")
    for cluster, per_slot in latency.items():
        running = 0
        for bound, count in zip(LATENCY_BOUNDS_MS, per_slot, strict=False):
            running += count
            lines.append(
                "envoy_cluster_upstream_rq_time_bucket"
                f'{{envoy_cluster_name="{cluster}",le="{_bound(bound)}"}} {running}'
            )
        total = sum(per_slot)
        labels = f'{{envoy_cluster_name="{cluster}"}}'
        lines.append(
            f'envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name="{cluster}",le="+Inf"}} '
            f"{total}"
        )
        lines.append(f"envoy_cluster_upstream_rq_time_sum{labels} 1.0476190476190476719153821")
        lines.append(f"envoy_cluster_upstream_rq_time_count{labels} {total}")
    return "\n".join(lines) + "\n"
