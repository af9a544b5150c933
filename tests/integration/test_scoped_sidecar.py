"""A real Envoy scoped to the services it calls: it holds their clusters and virtual hosts
alone, routes to them, not to the rest, and takes a service whose file names its group among
the callers without a restart — over SotW and delta alike."""

from __future__ import annotations

import pytest

from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._weir import WeirServer
from tests.support import eventually, free_port, http_get

SERVICES = 30
GROUP = "checkout-sidecars"


def dynamic_clusters(envoy: EnvoyProcess) -> set[str]:
    """The clusters Envoy holds that came over xDS."""
    return {
        line.split("::")[0]
        for line in envoy.admin_get("/clusters").splitlines()
        if "::added_via_api::true" in line
    }


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_a_scoped_sidecar_holds_and_routes_only_what_it_calls(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream, delta: bool
) -> None:
    # Given thirty services, each with a live instance answering its own id, and one spare
    services = [f"svc-{n}" for n in range(SERVICES)]
    weir.call(
        "POST",
        "/v1/apply",
        {
            "services": [{"name": name} for name in services],
            "instances": [
                {
                    "id": f"{name}-{i}",
                    "service": name,
                    "version": "v1",
                    "address": start_upstream(f"{name}-0").address if i == 0 else "10.9.9.9:80",
                    **({"activation": {"state": "live"}} if i == 0 else {}),
                }
                for name in services[:4]
                for i in range(2)
            ]
            + [
                {"id": f"{name}-0", "service": name, "version": "v1", "address": "10.9.9.8:80"}
                for name in services[4:]
            ],
        },
    )
    # and a sidecar of group checkout-sidecars that declares it calls svc-1 and svc-2
    listen = f"127.0.0.1:{free_port()}"
    bootstrap = render_bootstrap(
        "checkout-1",
        GROUP,
        xds=weir.xds,
        listen=listen,
        admin=f"127.0.0.1:{free_port()}",
        delta=delta,
        calls=["svc-1", "svc-2"],
    )
    envoy = start_envoy(bootstrap)
    url = f"http://{listen}/"

    # Then it holds those services' clusters alone, and routes to them only
    eventually(
        lambda: dynamic_clusters(envoy) == {"svc-1--svc-1-0", "svc-1--svc-1-1",
                                            "svc-2--svc-2-0", "svc-2--svc-2-1"},
        timeout=15,
    )  # fmt: skip
    eventually(lambda: http_get(url, "svc-1").body == "svc-1-0", retry_on=(AssertionError, OSError))
    assert http_get(url, "svc-2").body == "svc-2-0"
    assert http_get(url, "svc-3").status == 404  # svc-3 exists, but it does not call it

    # When svc-3's file names the sidecar's group among its callers
    weir.service("svc-3", callers=[GROUP])

    # Then the sidecar takes svc-3 too, with no restart
    eventually(lambda: http_get(url, "svc-3").body == "svc-3-0", timeout=15)
    assert {name.partition("--")[0] for name in dynamic_clusters(envoy)} == {
        "svc-1",
        "svc-2",
        "svc-3",
    }
    assert [p["node_id"] for p in weir.proxies()] == ["checkout-1"]
