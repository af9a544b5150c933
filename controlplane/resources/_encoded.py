"""Envoy resources encoded once: the packed Any bytes and a content-hash version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from google.protobuf import any_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

TYPE_PREFIX = "type.googleapis.com/"
CLUSTER_TYPE = TYPE_PREFIX + "envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = TYPE_PREFIX + "envoy.config.listener.v3.Listener"
ROUTE_TYPE = TYPE_PREFIX + "envoy.config.route.v3.RouteConfiguration"
VHOST_TYPE = TYPE_PREFIX + "envoy.config.route.v3.VirtualHost"

# The order an ADS server answers in: clusters before the listeners and routes that use them.
TYPE_ORDER = (CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE)
# Delta streams also serve virtual hosts (VHDS), after the route configuration that asks for them.
DELTA_TYPE_ORDER = (*TYPE_ORDER, VHOST_TYPE)


def content_version(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def framed_size(length: int) -> int:
    """A length-delimited field of `length` bytes with a one-byte tag."""
    return 1 + max(1, (length.bit_length() + 6) // 7) + length


def delta_size(name: str, type_url: str, payload: bytes, version: str) -> int:
    """The bytes a resource takes in a delta response: a `Resource` with its name, version and
    `Any`. An upper bound of what the same resource takes in a SotW response (its `Any`)."""
    packed = framed_size(framed_size(len(type_url)) + framed_size(len(payload)))
    named = framed_size(len(name.encode())) + framed_size(len(version))
    return framed_size(named + packed)


@dataclass(frozen=True, slots=True)
class Encoded:
    """One named resource: its deterministic bytes and a version of those bytes."""

    name: str
    type_url: str
    payload: bytes
    version: str
    size: int = field(default=0, init=False, compare=False, repr=False)
    """The bytes it takes in a response (`delta_size`): worked out once, as every check of a
    state's message sizes adds up those of all its resources."""
    _packed: any_pb2.Any | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        size = delta_size(self.name, self.type_url, self.payload, self.version)
        object.__setattr__(self, "size", size)

    @classmethod
    def of(cls, name: str, message: Message) -> Encoded:
        payload = message.SerializeToString(deterministic=True)
        return cls.from_payload(name, TYPE_PREFIX + message.DESCRIPTOR.full_name, payload)

    @classmethod
    def from_payload(cls, name: str, type_url: str, payload: bytes) -> Encoded:
        return cls(name, type_url, payload, content_version(payload))

    @property
    def message(self) -> Message:
        """The resource decoded again (for tests and tools; the xDS path only sends bytes)."""
        descriptor = descriptor_pool.Default().FindMessageTypeByName(
            self.type_url.removeprefix(TYPE_PREFIX)
        )
        message: Message = message_factory.GetMessageClass(descriptor)()
        message.ParseFromString(self.payload)
        return message

    def packed(self) -> any_pb2.Any:
        """The resource in an Any, made once (every SotW response of its set packs it, and
        nothing changes an Any it is given: a response copies what it holds)."""
        if self._packed is None:
            object.__setattr__(
                self, "_packed", any_pb2.Any(type_url=self.type_url, value=self.payload)
            )
        assert self._packed is not None
        return self._packed


def set_version(resources: dict[str, Encoded] | list[Encoded]) -> str:
    """The version of a whole set: a hash over its names and versions, in name order."""
    items = resources.values() if isinstance(resources, dict) else resources
    text = "\n".join(f"{r.name} {r.version}" for r in sorted(items, key=lambda r: r.name))
    return content_version(text.encode())
