"""Which services a proxy is served: all of them, or only those it calls.

A proxy is scoped when its node metadata carries `weir_calls` (`weir bootstrap --calls
a,b,c`): a list of service names, or one string of them separated by commas. It is then served
the services it names and those whose service files name its proxy group (its node.cluster)
among their `callers`, and nothing else; the second part follows the ledger, so applying a
service file with a new caller reaches the proxy without a restart. A proxy without the key
(a front proxy, or a sidecar that declared nothing) is served every service.

The metadata is the proxy's word, read once per stream and bounded: at most MAX_CALLS names,
each a service name; anything else ends the stream with a message naming the problem.
"""

from __future__ import annotations

from typing import Any

from controlplane.defaults import CALLS_METADATA_KEY, MAX_CALLS
from controlplane.model import SERVICE_NAME
from controlplane.resources import Resources
from controlplane.xds._errors import ProtocolError

MAX_NAME = 63


def declared_calls(node: Any) -> frozenset[str] | None:
    """The services the proxy's node metadata names (`weir_calls`), or None when it names
    none (the proxy is served everything)."""
    fields = node.metadata.fields
    if CALLS_METADATA_KEY not in fields:
        return None
    value = fields[CALLS_METADATA_KEY]
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        names = [n.strip() for n in value.string_value.split(",", MAX_CALLS)]
        names = [n for n in names if n]
    elif kind == "list_value":
        if len(value.list_value.values) > MAX_CALLS:
            raise _too_many()
        names = []
        for item in value.list_value.values:
            if item.WhichOneof("kind") != "string_value":
                raise ProtocolError(
                    f"node.metadata.{CALLS_METADATA_KEY} lists service names, not {kind_of(item)}"
                )
            names.append(item.string_value)
    else:
        raise ProtocolError(
            f"node.metadata.{CALLS_METADATA_KEY} is a list of service names or one string of "
            f"them separated by commas, not {kind_of(value)}"
        )
    if len(names) > MAX_CALLS:
        raise _too_many()
    for name in names:
        if len(name) > MAX_NAME or not SERVICE_NAME.fullmatch(name):
            shown = name[:MAX_NAME] + ("..." if len(name) > MAX_NAME else "")
            raise ProtocolError(
                f"node.metadata.{CALLS_METADATA_KEY}: {shown!r} is not a service name"
            )
    return frozenset(names)


def scope_of(
    declared: frozenset[str] | None, group: str, snapshot: Resources
) -> frozenset[str] | None:
    """What a proxy of `group` that declared `declared` is served of `snapshot`: None for
    everything, else the service names."""
    if declared is None:
        return None
    called = snapshot.called_by.get(group)
    return declared | called if called else declared


def kind_of(value: Any) -> str:
    return str(value.WhichOneof("kind") or "nothing").replace("_value", "")


def _too_many() -> ProtocolError:
    return ProtocolError(
        f"node.metadata.{CALLS_METADATA_KEY} names more than {MAX_CALLS} services; leave it "
        "out to be served every service"
    )
