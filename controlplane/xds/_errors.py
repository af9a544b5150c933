"""Protocol errors that end one stream (and only that stream) with a gRPC status."""

from __future__ import annotations

from controlplane.resources import TYPE_ORDER


class ProtocolError(Exception):
    """The proxy spoke xDS in a way weir cannot serve; the stream ends with INVALID_ARGUMENT."""


def check_type(type_url: str) -> None:
    if type_url not in TYPE_ORDER:
        raise ProtocolError(
            f"weir serves clusters, listeners and route configurations over ADS, not {type_url!r}"
        )
