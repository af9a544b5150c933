"""wire: weir's families found in a pushed message's bytes are exactly those a full decode
gives, and bytes that are not what they say are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._proto import prometheus_metrics_pb2 as pm
from controlplane.stats._push import EVIDENCE, LATENCY_FAMILY, REQUESTS_FAMILY, read_flush
from controlplane.stats._wire import BadMessage, Frame, Wanted
from tests.safety._flood import field, varint
from tests.stats._flushes import latency_family, message, requests_family, retries_family

NAMES = (
    "cluster.upstream_rq_xx",
    "cluster.retry.upstream_rq_xx",
    "cluster.upstream_rq_retry",
    "cluster.upstream_rq_time",
)


def full_decode(raw: bytes) -> tuple[pm.MetricFamily, ...]:
    """weir's families as reading the whole message finds them (what the sink did before)."""
    decoded = metrics_service_pb2.StreamMetricsMessage.FromString(raw)
    return tuple(family for family in decoded.envoy_metrics if family.name in NAMES)


def found(raw: bytes) -> tuple[pm.MetricFamily, ...]:
    return EVIDENCE.families(Frame.decode(raw))


labels = st.lists(
    st.builds(
        pm.LabelPair,
        name=st.sampled_from(["envoy.cluster_name", "envoy.response_code_class"]),
        value=st.one_of(st.sampled_from(NAMES), st.text(max_size=300)),
    ),
    max_size=3,
)
metrics = st.lists(
    st.builds(pm.Metric, label=labels, counter=st.builds(pm.Counter, value=st.floats())),
    max_size=3,
)
families = st.builds(
    pm.MetricFamily,
    name=st.one_of(st.sampled_from(NAMES), st.sampled_from(["server.uptime", "cluster.x"])),
    help=st.text(max_size=200),
    type=st.sampled_from([pm.COUNTER, pm.HISTOGRAM]),
    metric=metrics,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(families, max_size=12), st.one_of(st.none(), st.text(min_size=1, max_size=40)))
def test_the_families_found_are_the_full_decodes(
    sent: list[pm.MetricFamily], node_id: str | None
) -> None:
    # Any families, weir's among them in any order and repeated, label values named like weir's
    # families or of any length (so lengths of several varint bytes)
    raw = message(sent, node_id).SerializeToString()

    frame = Frame.decode(raw)

    assert found(raw) == full_decode(raw)
    assert frame.family_count == len(sent)
    assert frame.node_id == (node_id or "")


def test_a_flush_reads_the_same_either_way() -> None:
    flush = [
        pm.MetricFamily(name="server.uptime", type=pm.GAUGE),
        requests_family({"web--a": {"2": 138, "5": 62}}),
        latency_family({"web--a": (199, 1)}),
        requests_family({"web--b": {"2": 7}}),  # the sink sends each metric as a family
        retries_family({"web--a": 4}),
        requests_family({"web--a": {"5": 3}}, name="cluster.retry.upstream_rq_xx"),
    ]
    raw = message(flush, "proxy-1").SerializeToString()

    assert read_flush(found(raw)).counts() == read_flush(full_decode(raw)).counts()
    assert [family.name for family in found(raw)] == [
        "cluster.upstream_rq_xx",
        "cluster.upstream_rq_time",
        "cluster.upstream_rq_xx",
        "cluster.upstream_rq_retry",
        "cluster.retry.upstream_rq_xx",
    ]


# Bytes that are not what they say.


def test_a_truncated_message_is_refused() -> None:
    raw = message([requests_family({"web--a": {"2": 300}})], "p1").SerializeToString()
    with pytest.raises(BadMessage, match="not a StreamMetricsMessage"):
        Frame.decode(raw[:-3])


def test_a_family_whose_length_varint_is_cut_short_is_refused() -> None:
    family = requests_family({f"web--{n}": {"2": 1} for n in range(4)}).SerializeToString()
    assert len(family) > 0x7F  # its length takes two varint bytes
    with pytest.raises(BadMessage, match="not a StreamMetricsMessage"):
        Frame.decode(b"\x12" + varint(len(family))[:1])


def _in_a_label_value(inner: bytes, tail: bytes = b"") -> bytes:
    """A message of one family of Envoy's whose one label's value holds `inner`."""
    label = field(1, b"envoy.cluster_name") + field(2, inner)
    metric = field(1, label) + tail
    other = field(1, b"http.downstream_rq_xx") + field(4, metric)
    return field(2, other)


def test_family_bounds_beyond_the_message_are_refused() -> None:
    # Bytes that look like a family of weir's, claiming more bytes than the message has left
    name = field(1, REQUESTS_FAMILY.encode())
    raw = _in_a_label_value(b"\x12\x7f" + name)
    Frame.decode(raw)  # the message itself is sound

    with pytest.raises(BadMessage, match="past the message's"):
        found(raw)


def test_a_look_alike_that_is_no_family_is_refused() -> None:
    name = field(1, REQUESTS_FAMILY.encode())
    raw = _in_a_label_value(b"\x12" + varint(len(name) + 2) + name + b"\xff\xff")
    with pytest.raises(BadMessage, match="is no MetricFamily"):
        found(raw)


def test_a_family_naming_itself_twice_is_refused() -> None:
    twice = field(1, REQUESTS_FAMILY.encode()) + field(1, b"server.uptime")
    raw = field(2, twice)
    assert full_decode(raw) == ()  # the last name wins in a full decode
    with pytest.raises(BadMessage, match="names itself"):
        found(raw)


def test_a_label_named_like_a_family_is_passed_over() -> None:
    family = pm.MetricFamily(name="http.downstream_rq_xx")
    family.metric.add(label=[pm.LabelPair(name=REQUESTS_FAMILY, value=LATENCY_FAMILY)])
    raw = message([family], "p1").SerializeToString()

    assert found(raw) == () == full_decode(raw)


def test_a_family_inside_a_label_value_counts_as_if_sent() -> None:
    # A hostile sender framing one of weir's families inside a label value: read as if it had
    # sent that family outright (it may; the same checks then apply: stats/_wire.py)
    forged = requests_family({"web--a": {"5": 9}})
    raw = _in_a_label_value(field(2, forged.SerializeToString()))

    assert found(raw) == (forged,)
    assert full_decode(raw) == ()


def test_a_family_inside_one_of_weirs_is_refused() -> None:
    forged = field(2, requests_family({"web--a": {"5": 9}}).SerializeToString())
    label = field(1, b"envoy.cluster_name") + field(2, forged)
    host = field(1, REQUESTS_FAMILY.encode()) + field(4, field(1, label))
    raw = field(2, host) + field(2, b"")  # two families: as many as names found

    with pytest.raises(BadMessage, match="overlaps another family"):
        found(raw)


def test_a_message_stuffed_with_look_alikes_is_refused_beyond_its_family_count() -> None:
    name = field(1, REQUESTS_FAMILY.encode())
    raw = _in_a_label_value(name * 3)  # one family, three look-alikes

    with pytest.raises(BadMessage, match="more family names than the message's 1 families"):
        found(raw)


def test_nothing_in_a_leading_identifier_is_taken_for_a_family() -> None:
    forged = field(2, retries_family({"web--a": 9}).SerializeToString())
    assert forged.isascii()  # so it stays these bytes in a string field
    first = message([requests_family({"web--b": {"2": 1}})], "p1")
    first.identifier.node.cluster = forged.decode()
    raw = first.SerializeToString()
    assert forged in raw

    assert found(raw) == full_decode(raw)


def test_names_too_long_to_find_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="too long"):
        Wanted(["x" * 200])
