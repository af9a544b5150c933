"""What `weir bootstrap` tells Envoy about stats: where to push them, and that Envoy keeps its
own (with `--lean-stats`, only what weir reads)."""

from __future__ import annotations

import re

import pytest

from controlplane.bootstrap import render_bootstrap
from controlplane.defaults import EVIDENCE_STATS, XDS_CLUSTER

BOOTSTRAP = render_bootstrap("p", "c", xds="127.0.0.1:18000", admin="0.0.0.0:9901")
LEAN = render_bootstrap("p", "c", xds="127.0.0.1:18000", lean_stats=True)


def test_every_flush_goes_to_weirs_grpc_port_each_second() -> None:
    assert BOOTSTRAP["stats_flush_interval"] == "1s"
    [sink] = BOOTSTRAP["stats_sinks"]
    assert sink["name"] == "envoy.stat_sinks.metrics_service"
    assert sink["typed_config"] == {
        "@type": "type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig",
        "transport_api_version": "V3",
        "grpc_service": {"envoy_grpc": {"cluster_name": XDS_CLUSTER}},
        "report_counters_as_deltas": True,
        "emit_tags_as_labels": True,
        "histogram_emit_mode": "HISTOGRAM",
        "batch_size": 1000,  # a flush in messages far below the xDS port's 4 MiB cap
    }


def test_envoy_keeps_its_own_stats() -> None:
    assert "stats_config" not in BOOTSTRAP  # no stats matcher: Envoy creates every stat


def test_the_node_names_its_admin() -> None:
    assert BOOTSTRAP["node"]["metadata"]["weir_admin"] == "0.0.0.0:9901"


@pytest.mark.parametrize(
    ("stat", "evidence"),
    [
        ("cluster.web--a.upstream_rq_2xx", True),
        ("cluster.web--a.upstream_rq_5xx", True),
        ("cluster.checkout--v2-canary.upstream_rq_time", True),
        ("cluster.web--a.retry.upstream_rq_5xx", True),  # a response Envoy retried
        ("cluster.web--a.upstream_rq_retry", True),  # a retry made
        ("cluster.web--a.upstream_rq_retry_success", False),
        ("cluster.web--a.upstream_rq_503", False),  # per code: the classes suffice
        ("cluster.web--a.upstream_rq_total", False),
        ("cluster.web--a.upstream_cx_total", False),
        ("cluster.weir_xds.upstream_rq_2xx", False),  # not an instance cluster
        ("http.ingress.downstream_rq_2xx", False),
    ],
)
def test_the_evidence_is_each_instance_clusters_responses_and_retries(
    stat: str, evidence: bool
) -> None:
    assert (re.fullmatch(EVIDENCE_STATS, stat) is not None) is evidence


def test_lean_stats_keep_the_evidence_and_the_xds_health_operators_read() -> None:
    patterns = LEAN["stats_config"]["stats_matcher"]["inclusion_list"]["patterns"]
    [regex] = [p["safe_regex"]["regex"] for p in patterns if "safe_regex" in p]
    exact = {p["exact"] for p in patterns if "exact" in p}

    assert regex == EVIDENCE_STATS
    assert {
        "control_plane.connected_state",
        "listener_manager.lds.update_rejected",
        "cluster_manager.cds.update_rejected",
        "cluster_manager.active_clusters",
    } <= exact
