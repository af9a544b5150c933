"""Which node ids a client certificate speaks for (controlplane/xds/_identity.py)."""

from __future__ import annotations

import pytest

from controlplane.xds._identity import identity_refusal, uri_identity


def tls(*, uris: tuple[str, ...] = (), dns: tuple[str, ...] = ()) -> dict[str, list[bytes]]:
    """An auth context as grpc's TLS transport fills it."""
    return {
        "transport_security_type": [b"ssl"],
        "peer_uri": [uri.encode() for uri in uris],
        "peer_dns": [name.encode() for name in dns],
    }


@pytest.mark.parametrize(
    ("uri", "identity"),
    [
        ("spiffe://mesh.example/envoy/web-1", "web-1"),
        ("spiffe://mesh.example/ns/prod/sa/web-1", "web-1"),
        ("https://ids.example/proxies/web-1?x=1#y", "web-1"),
        ("spiffe://mesh.example/", ""),
        ("spiffe://mesh.example", ""),
        ("urn:web-1", "web-1"),  # a path without a slash is one segment
    ],
)
def test_a_san_uri_speaks_for_its_last_path_segment(uri: str, identity: str) -> None:
    assert uri_identity(uri) == identity


@pytest.mark.parametrize(
    "auth",
    [
        tls(uris=("spiffe://mesh.example/envoy/web-1",)),
        tls(dns=("web-1",)),
        tls(uris=("spiffe://mesh.example/envoy/other",), dns=("web-1",)),
        tls(uris=("spiffe://a/x", "spiffe://b/envoy/web-1")),
    ],
    ids=["spiffe-uri", "dns", "dns-among-others", "second-uri"],
)
def test_a_certificate_naming_the_node_is_served(auth: dict[str, list[bytes]]) -> None:
    assert identity_refusal(auth, "web-1") is None


@pytest.mark.parametrize(
    "auth",
    [
        tls(uris=("spiffe://mesh.example/envoy/web-2",)),
        tls(uris=("spiffe://mesh.example/web-1/proxy",)),  # not the last segment
        tls(uris=("spiffe://web-1",)),  # the trust domain is not a path segment
        tls(dns=("web-1.mesh.example",)),
        tls(dns=("WEB-1",)),  # exact match only
        tls(dns=("*.mesh.example",)),
        tls(),  # a certificate without SAN (its common name never counts)
    ],
    ids=["other-node", "middle-segment", "host-only", "fqdn", "case", "wildcard", "no-san"],
)
def test_a_certificate_naming_another_node_is_refused(auth: dict[str, list[bytes]]) -> None:
    refusal = identity_refusal(auth, "web-1")

    assert refusal is not None
    assert "node.id 'web-1' is not the identity of the client certificate" in refusal


def test_the_refusal_says_what_the_certificate_names() -> None:
    auth = tls(uris=("spiffe://mesh.example/envoy/web-2",), dns=("web-2",))

    assert identity_refusal(auth, "web-1") == (
        "node.id 'web-1' is not the identity of the client certificate "
        "(its SAN: URI:spiffe://mesh.example/envoy/web-2, DNS:web-2)"
    )


@pytest.mark.parametrize(
    "auth",
    [{}, {"transport_security_type": [b"insecure"], "security_level": [b"TSI_SECURITY_NONE"]}],
    ids=["empty", "insecure"],
)
def test_plaintext_xds_checks_nothing(auth: dict[str, list[bytes]]) -> None:
    assert identity_refusal(auth, "anyone") is None
