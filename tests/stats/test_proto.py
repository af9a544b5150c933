"""The compiled protos: the published field numbers, and never out of step with proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor

from controlplane.stats._proto import metrics_service_pb2, metrics_wire_pb2
from controlplane.stats._proto import prometheus_metrics_pb2 as pm

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "controlplane" / "stats" / "_proto"


def test_the_generated_modules_are_what_proto_build_makes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "proto" / "build.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    made = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    committed = {
        path.name: path.read_bytes() for path in GENERATED.iterdir() if "_pb2" in path.name
    }
    assert sorted(made) == sorted(committed), "run: python proto/build.py"
    for name, content in made.items():
        assert committed[name] == content, f"{name} is stale; run: python proto/build.py"


STREAM = metrics_service_pb2.StreamMetricsMessage


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (STREAM, {"identifier": 1, "envoy_metrics": 2}),
        (STREAM.Identifier, {"node": 1}),
        (pm.MetricFamily, {"name": 1, "help": 2, "type": 3, "metric": 4}),
        (
            pm.Metric,
            {
                "label": 1,
                "gauge": 2,
                "counter": 3,
                "summary": 4,
                "untyped": 5,
                "timestamp_ms": 6,
                "histogram": 7,
            },
        ),
        (pm.LabelPair, {"name": 1, "value": 2}),
        (pm.Counter, {"value": 1}),
        (pm.Gauge, {"value": 1}),
        (pm.Untyped, {"value": 1}),
        (pm.Summary, {"sample_count": 1, "sample_sum": 2, "quantile": 3}),
        (pm.Quantile, {"quantile": 1, "value": 2}),
        (pm.Histogram, {"sample_count": 1, "sample_sum": 2, "bucket": 3}),
        (pm.Bucket, {"cumulative_count": 1, "upper_bound": 2}),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_the_published_field_numbers(message: type, fields: dict[str, int]) -> None:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[attr-defined]
    assert {field.name: field.number for field in descriptor.fields} == fields


def test_weirs_frame_reads_the_same_fields() -> None:
    frame = metrics_wire_pb2.StreamMetricsFrame.DESCRIPTOR
    assert {f.name: f.number for f in frame.fields} == {
        f.name: f.number for f in STREAM.DESCRIPTOR.fields
    }
    assert frame.fields_by_name["identifier"].message_type is STREAM.Identifier.DESCRIPTOR


def test_the_names_envoy_sends() -> None:
    assert STREAM.DESCRIPTOR.full_name == "envoy.service.metrics.v3.StreamMetricsMessage"
    assert pm.MetricFamily.DESCRIPTOR.full_name == "io.prometheus.client.MetricFamily"
    node = STREAM.Identifier.DESCRIPTOR.fields_by_name["node"].message_type
    assert node is not None and node.full_name == "envoy.config.core.v3.Node"
    assert [(v.name, v.number) for v in pm.MetricType.DESCRIPTOR.values] == [
        ("COUNTER", 0), ("GAUGE", 1), ("SUMMARY", 2), ("UNTYPED", 3), ("HISTOGRAM", 4),
        ("GAUGE_HISTOGRAM", 5),
    ]  # fmt: skip
