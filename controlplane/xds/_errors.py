"""Protocol errors that end one stream (and only that stream) with a gRPC status."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.resources import TYPE_ORDER, VHOST_TYPE


class ProtocolError(Exception):
    """The proxy spoke xDS in a way weir cannot serve; the stream ends with INVALID_ARGUMENT."""


def check_type(type_url: str, served: Sequence[str] = TYPE_ORDER) -> None:
    if type_url in served:
        return
    if type_url == VHOST_TYPE:
        raise ProtocolError("virtual hosts (VHDS) are served on delta xDS streams only")
    raise ProtocolError(
        f"weir serves clusters, listeners and route configurations over ADS, not {type_url!r}"
    )
