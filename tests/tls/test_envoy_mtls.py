"""A real Envoy and `weir serve` over mTLS: the proxy its certificate names gets weir's routes;
a proxy claiming another node, or without a certificate, gets nothing from weir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.bootstrap import BootstrapTls, render_bootstrap
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, register, serves
from tests.integration._weir import WeirServer
from tests.support import EnvoyProcess, eventually, free_port, send_requests
from tests.tls._certs import Pki


@pytest.fixture
def weir(tmp_path: Path, pki: Pki) -> Iterator[WeirServer]:
    """weir serve with mTLS on its xDS port, service `web` applied."""
    cert = pki.server()
    options = (
        *("--xds-tls-cert", str(cert.cert), "--xds-tls-key", str(cert.key)),
        *("--xds-client-ca", str(pki.ca)),
    )
    with WeirServer(tmp_path, options=options) as server:
        server.service(SERVICE)
        yield server


def start_proxy(
    weir: WeirServer, start_envoy: StartEnvoy, node_id: str, tls: BootstrapTls | None
) -> tuple[EnvoyProcess, str]:
    listen = f"127.0.0.1:{free_port()}"
    bootstrap = render_bootstrap(
        node_id, "test", xds=weir.xds, listen=listen, admin=f"127.0.0.1:{free_port()}", tls=tls
    )
    for source in ("cds_config", "lds_config"):
        # An Envoy weir refuses waits for its first config this long before it is ready.
        bootstrap["dynamic_resources"][source]["initial_fetch_timeout"] = "1s"
    return start_envoy(bootstrap), f"http://{listen}/"


def weir_clusters(envoy: EnvoyProcess) -> list[str]:
    dump = envoy.config_dump("dynamic_active_clusters")
    return [config["cluster"]["name"] for config in dump.get("configs", [])]


def test_an_envoy_with_its_own_certificate_is_served_over_mtls(
    weir: WeirServer, pki: Pki, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given weir with mTLS and an instance live
    register(weir, start_upstream, "a")
    weir.live("a", 100)
    proxy = pki.proxy("proxy-1")

    # When an Envoy whose certificate names it connects with weir's bootstrap
    envoy, url = start_proxy(
        weir, start_envoy, "proxy-1", BootstrapTls(str(proxy.cert), str(proxy.key), str(pki.ca))
    )

    # Then it serves the traffic weir routes, and weir sees it connected
    serves(url, "a")
    assert send_requests(url, 50, SERVICE).statuses() == {200: 50}
    assert weir_clusters(envoy) == ["web--a"]
    assert [p["node_id"] for p in weir.proxies()] == ["proxy-1"]
    assert envoy.stats()["control_plane.connected_state"] == 1
    # and its stats reach weir's metrics sink over the same mTLS cluster
    eventually(lambda: _assert_in_log(weir, "metrics stream from proxy-1"), timeout=10)


def test_an_envoy_claiming_another_node_or_without_a_certificate_gets_nothing(
    weir: WeirServer, pki: Pki, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given weir with mTLS and an instance live
    register(weir, start_upstream, "a")
    weir.live("a", 100)
    other = pki.proxy("proxy-2")

    # When an Envoy connects as proxy-1 with proxy-2's certificate, and another in plaintext
    impostor, _ = start_proxy(
        weir, start_envoy, "proxy-1", BootstrapTls(str(other.cert), str(other.key), str(pki.ca))
    )
    plaintext, _ = start_proxy(weir, start_envoy, "proxy-3", None)

    # Then weir refuses the impostor's stream, more than once as it retries (by then the
    # plaintext Envoy has had time to try too)
    def refused_twice() -> None:
        log = weir.log_path.read_text()
        assert log.count("node.id 'proxy-1' is not the identity of the client certificate") >= 2

    eventually(refused_twice, timeout=15)
    # and neither Envoy holds a cluster from weir, or counts a config update from it
    for envoy in (impostor, plaintext):
        assert weir_clusters(envoy) == []
        stats = envoy.stats()
        assert stats["cluster_manager.cds.update_success"] == 0
        assert stats["control_plane.connected_state"] == 0
    assert weir.proxies() == []
    # and weir's metrics sink takes no stats from them: the impostor's sink stream is refused
    # for the same reason as its ADS stream, the plaintext one never gets through TLS
    log = weir.log_path.read_text()
    assert "metrics stream from proxy-1" not in log
    assert "metrics stream from proxy-3" not in log


def _assert_in_log(weir: WeirServer, text: str) -> None:
    assert text in weir.log_path.read_text()
