"""Which proxy a client certificate speaks for: the check that ties node.id to mTLS.

With mTLS on the xDS port (`weir serve --xds-tls-*`) a stream is served only if the proxy's
node.id is an identity of the certificate it connected with:

- a SAN URI whose last path segment is the node id (`spiffe://mesh.example/envoy/web-1`
  speaks for `web-1`; a SPIFFE ID is the usual form), or
- a SAN DNS name equal to the node id (`web-1`).

Matching is exact (no wildcards, no case folding) and the subject's common name is never
read: a certificate must name its proxy in its SAN. Without TLS there is no identity to check
and nothing is refused here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import grpc

log = logging.getLogger(__name__)

# The peer properties grpc's TLS transport puts in a call's auth context (grpc_security.h).
_SECURITY_TYPE = "transport_security_type"
_SAN_URIS = "peer_uri"
_SAN_DNS = "peer_dns"


def uri_identity(uri: str) -> str:
    """The node id a SAN URI speaks for: the last segment of its path ('' if none)."""
    return urlsplit(uri).path.rpartition("/")[2]


def identity_refusal(auth: Mapping[str, Sequence[bytes]], node_id: str) -> str | None:
    """Why a stream from `node_id` is refused on a connection with this grpc auth context,
    or None when it may be served (plaintext, or the certificate names the node)."""
    if list(auth.get(_SECURITY_TYPE, ())) != [b"ssl"]:
        return None  # plaintext xDS: weir serve without --xds-tls-*
    uris = [value.decode(errors="replace") for value in auth.get(_SAN_URIS, ())]
    names = [value.decode(errors="replace") for value in auth.get(_SAN_DNS, ())]
    if any(uri_identity(uri) == node_id for uri in uris) or node_id in names:
        return None
    named = ", ".join([*(f"URI:{uri}" for uri in uris), *(f"DNS:{name}" for name in names)])
    return (
        f"node.id {node_id!r} is not the identity of the client certificate "
        f"(its SAN: {named or 'none'})"
    )


async def require_identity(context: grpc.aio.ServicerContext, node_id: str) -> None:
    """End the stream with PERMISSION_DENIED unless the peer's certificate names `node_id`."""
    refusal = identity_refusal(context.auth_context(), node_id)
    if refusal is not None:
        log.warning("refused an xDS stream from %s: %s", context.peer(), refusal)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)


def certificate_identities(auth: Mapping[str, Sequence[bytes]]) -> frozenset[str] | None:
    """The node ids a client certificate speaks for (as `identity_refusal` matches them), or
    None on a plaintext connection, where there is no identity to go by."""
    if list(auth.get(_SECURITY_TYPE, ())) != [b"ssl"]:
        return None
    uris = [uri_identity(value.decode(errors="replace")) for value in auth.get(_SAN_URIS, ())]
    names = [value.decode(errors="replace") for value in auth.get(_SAN_DNS, ())]
    return frozenset(name for name in (*uris, *names) if name)
