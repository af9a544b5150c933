"""`weir bootstrap --tls-*`: an Envoy bootstrap that reaches weir over mTLS, as Envoy reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli._run import invoke
from tests.support import envoy_validate
from tests.tls._certs import Pki


def tls_options(pki: Pki) -> list[str]:
    proxy = pki.proxy("web-1")
    return ["--tls-cert", str(proxy.cert), "--tls-key", str(proxy.key), "--tls-ca", str(pki.ca)]


def san(kind: str, name: str) -> dict[str, object]:
    return {"san_type": kind, "matcher": {"exact": name}}


@pytest.mark.parametrize(
    ("xds", "extra", "sni", "weir_san"),
    [
        ("127.0.0.1:18000", [], None, san("IP_ADDRESS", "127.0.0.1")),
        ("weir.internal:18000", [], "weir.internal", san("DNS", "weir.internal")),
        ("[::1]:18000", ["--tls-server-name", "weir"], "weir", san("DNS", "weir")),
    ],
    ids=["ip", "name", "server-name"],
)
def test_envoy_accepts_the_mtls_bootstrap(
    tmp_path: Path,
    pki: Pki,
    xds: str,
    extra: list[str],
    sni: str | None,
    weir_san: dict[str, object],
) -> None:
    args = ["bootstrap", "--node-id", "web-1", "--cluster", "web", "--xds", xds]
    result = invoke(*args, *tls_options(pki), *extra)
    assert result.exit_code == 0, result.output

    assert envoy_validate(result.stdout, tmp_path) is None
    (cluster,) = yaml.safe_load(result.stdout)["static_resources"]["clusters"]
    socket = cluster["transport_socket"]
    assert socket["name"] == "envoy.transport_sockets.tls"
    context = socket["typed_config"]
    assert context.get("sni") == sni
    common = context["common_tls_context"]
    proxy = pki.proxy("web-1")
    assert common["tls_certificates"] == [
        {"certificate_chain": {"filename": str(proxy.cert)},
         "private_key": {"filename": str(proxy.key)}}
    ]  # fmt: skip
    assert common["validation_context"] == {
        "trusted_ca": {"filename": str(pki.ca)},
        "match_typed_subject_alt_names": [weir_san],
    }
    assert result.stdout.startswith("# Envoy bootstrap made by `weir bootstrap --node-id web-1")
    assert f"--tls-ca {pki.ca}" in result.stdout.splitlines()[0]


def test_without_tls_options_the_bootstrap_is_plaintext() -> None:
    result = invoke("bootstrap", "--node-id", "web-1", "--cluster", "web")

    (cluster,) = yaml.safe_load(result.stdout)["static_resources"]["clusters"]
    assert "transport_socket" not in cluster


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tls-cert", "c.pem"], "missing --tls-key, --tls-ca"),
        (["--tls-key", "k.pem", "--tls-ca", "ca.pem"], "missing --tls-cert"),
        (["--tls-server-name", "weir"], "--tls-server-name needs --tls-cert, --tls-key"),
    ],
)  # fmt: skip
def test_some_of_the_tls_options_is_a_usage_error(options: list[str], message: str) -> None:
    result = invoke("bootstrap", "--node-id", "web-1", "--cluster", "web", *options)

    assert result.exit_code == 2
    assert message in result.output
    assert result.stdout == ""


def test_replicas_over_mtls_each_may_present_the_name_it_is_dialled_by(
    tmp_path: Path, pki: Pki
) -> None:
    replicas = ["--xds", "weir-a.internal:18000", "--xds", "10.0.0.9:18000"]
    result = invoke("bootstrap", "--node-id", "web-1", "--cluster", "web", *replicas,
                    *tls_options(pki))  # fmt: skip
    assert result.exit_code == 0, result.output

    assert envoy_validate(result.stdout, tmp_path) is None
    (cluster,) = yaml.safe_load(result.stdout)["static_resources"]["clusters"]
    context = cluster["transport_socket"]["typed_config"]
    assert "sni" not in context  # one SNI cannot name two replicas
    assert context["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        san("DNS", "weir-a.internal"),
        san("IP_ADDRESS", "10.0.0.9"),
    ]
