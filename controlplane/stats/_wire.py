"""wire: weir's metric families out of a pushed StreamMetricsMessage, without decoding the rest.

Envoy's sink sends each metric as a family of its own, so a full decode makes a Python object
per metric of Envoy's, of which weir reads a handful. Here a message is decoded as a
`StreamMetricsFrame` (the same field numbers, the families left as bytes): that checks its
framing, counts its families and reads its identifier in C. Then weir's families are found in
the bytes and only those are decoded, so the Python work grows with weir's share of the message.

A family is the message's field 2: the tag byte 0x12, its length (a varint), then its own
fields, the first of which is its name (0x0a, the name's length, the name) as every protobuf
serializer writes it. So for each name weir reads, `bytes.find` looks for its encoded name
field, and from each hit backs up over the length varint (its bytes before the last have the
high bit set) to the 0x12 tag: a hit without one is no family (a label named so, say) and is
passed over. A hit with one must be a family: its bytes within the message, decoding as a
MetricFamily named as found, and no two overlapping; anything else refuses the whole message
(BadMessage), so nothing of it counts. More hits than the message has families refuse it too,
so bytes stuffed with look-alikes cost no more Python work than a batch of families.

The families weir passes over are never decoded: one that is malformed refuses nothing, as
nothing of it is read. The identifier is decoded wherever it is, so a later message naming
another node is still caught (stats/_push.py).

The search starts after a leading identifier (Envoy's first message of a stream leads with its
node), so nothing in the node is taken for a family. A hostile sender can still frame bytes
that look like one of weir's families inside another field (a label value, an identifier sent
after the families), or hide one of its families from weir (its tag written in two bytes).
That gains it nothing: it speaks only for its own node on its own connection (stats/_push.py),
a false match is read exactly as if it had sent that family outright, which it may, and the
same checks apply (its clusters only, counts, rate, the other proxies' claims); a hidden
family is one it could have left out. Envoy never sends such bytes: its label values are names
from its config, without control characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from controlplane.stats._proto import metrics_service_pb2, prometheus_metrics_pb2
from controlplane.stats._proto.metrics_wire_pb2 import StreamMetricsFrame

Identifier = metrics_service_pb2.StreamMetricsMessage.Identifier
MetricFamily = prometheus_metrics_pb2.MetricFamily

_IDENTIFIER_TAG = 0x0A
"""Field 1 of StreamMetricsMessage (and the name, field 1 of a MetricFamily), length-delimited."""
_FAMILY_TAG = 0x12
"""Field 2 of StreamMetricsMessage (envoy_metrics), length-delimited."""
_MAX_LENGTH_BYTES = 5
"""A length varint below 2**35: gRPC caps a message far below that."""


class BadMessage(ValueError):
    """Bytes that are no StreamMetricsMessage, or whose families are not where they say."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One pushed message, decoded but for its families."""

    raw: bytes
    identifier: Identifier | None
    identifier_size: int
    """Bytes the identifier takes (0 without one)."""
    family_count: int
    """Families the message carries, all of Envoy's."""

    @classmethod
    def decode(cls, raw: bytes) -> Frame:
        """`raw`'s frame; BadMessage if it is no StreamMetricsMessage."""
        try:
            frame = StreamMetricsFrame.FromString(raw)
        except DecodeError as exc:
            raise BadMessage(f"not a StreamMetricsMessage ({exc})") from None
        if not frame.HasField("identifier"):
            return cls(raw, None, 0, len(frame.envoy_metrics))
        identifier = frame.identifier
        return cls(raw, identifier, identifier.ByteSize(), len(frame.envoy_metrics))

    @property
    def size(self) -> int:
        """Bytes on the wire, the identifier included."""
        return len(self.raw)

    @property
    def node_id(self) -> str:
        return self.identifier.node.id if self.identifier is not None else ""


class Wanted:
    """The families of some names, found in a frame's bytes (the encoded name fields built
    once)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._fields = {name: _name_field(name) for name in names}

    def families(self, frame: Frame) -> tuple[MetricFamily, ...]:
        """The frame's families of the wanted names, decoded, in the order it carries them.
        BadMessage when they are not where their bytes say, or when more bytes look like one
        than the frame has families (so a message stuffed with look-alikes costs no more than
        one with that many families)."""
        raw = frame.raw
        start = _after_identifier(raw)
        hits = frame.family_count
        spans = []
        for name, field in self._fields.items():
            hit = raw.find(field, start)
            while hit >= 0:
                hits -= 1
                if hits < 0:
                    raise BadMessage(
                        f"more family names than the message's {frame.family_count} families"
                    )
                span = _family_span(raw, hit, start)
                if span is not None:
                    spans.append((*span, name))
                hit = raw.find(field, hit + len(field))
        end = 0
        found = []
        for first, stop, name in sorted(spans):
            if first < end:
                raise BadMessage(f"a {name} family overlaps another family of the message")
            end = stop
            found.append(_family(raw, first, stop, name))
        return tuple(found)


def _name_field(name: str) -> bytes:
    encoded = name.encode()
    if len(encoded) > 0x7F:  # a one-byte length, as every name weir reads has
        raise ValueError(f"family name {name!r} is too long to find")
    return bytes((_IDENTIFIER_TAG, len(encoded))) + encoded


def _after_identifier(raw: bytes) -> int:
    """Where the search starts: after a leading identifier field (the frame decoded, so its
    length is sound), else at the start."""
    if not raw or raw[0] != _IDENTIFIER_TAG:
        return 0
    length, at = 0, 1
    for shift in range(0, 70, 7):  # a varint takes ten bytes at most
        byte = raw[at]
        at += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
    return at + length


def _family_span(raw: bytes, content: int, floor: int) -> tuple[int, int] | None:
    """The bounds of the family whose content starts at `content`: None when the bytes before
    it are no field-2 tag and length."""
    last = content - 1
    if last <= floor or raw[last] >= 0x80:
        return None
    first = last
    while first > floor and raw[first - 1] >= 0x80 and last - first + 1 < _MAX_LENGTH_BYTES:
        first -= 1
    if first - 1 < floor or raw[first - 1] != _FAMILY_TAG:
        return None
    length = 0
    for byte in reversed(raw[first : last + 1]):
        length = length << 7 | (byte & 0x7F)
    end = content + length
    if end > len(raw):
        raise BadMessage(
            f"a family at byte {content} runs to byte {end}, past the message's {len(raw)}"
        )
    return content, end


def _family(raw: bytes, start: int, stop: int, name: str) -> MetricFamily:
    try:
        family = MetricFamily.FromString(raw[start:stop])
    except DecodeError:
        raise BadMessage(f"a {name} family at byte {start} is no MetricFamily") from None
    if family.name != name:
        raise BadMessage(f"a family at byte {start} names itself {name} and {family.name[:64]!r}")
    return family
