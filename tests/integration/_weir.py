"""`weir serve` as a child process, the way operators run it, and a client for its API.

Tests drive weir through its HTTP API (what the CLI does) and read what Envoy then does.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from controlplane.bootstrap import render_bootstrap
from controlplane.harness import WeirProcess, weir_command
from tests.support import free_port

WEIR = weir_command()


class WeirServer(WeirProcess):
    """`weir serve` with a client for its API, as the CLI uses it."""

    def __init__(
        self,
        workdir: Path,
        *,
        store: Path | None = None,
        options: tuple[str, ...] = (),
        token: str | None = None,
    ) -> None:
        super().__init__(workdir, store=store, options=options, token=token)
        self.api = httpx.Client(base_url=self.api_url, timeout=10.0, trust_env=False)

    def start(self) -> Self:
        super().start()
        self.api.headers.update(self.headers)  # the admin token, as the CLI finds it
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self.api.close()

    # The API, as the CLI uses it. Each call fails the test on an unexpected status.

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.api.request(method, path, json=body)
        assert response.status_code in (expect, 201), f"{method} {path}: {response.text}"
        return response.json()

    def service(self, name: str, **spec: Any) -> None:
        self.call("PUT", f"/v1/services/{name}", {"name": name, **spec})

    def instance(self, service: str, instance_id: str, address: str, version: str = "v1") -> None:
        body = {"id": instance_id, "service": service, "version": version, "address": address}
        self.call("POST", "/v1/instances", body, expect=201)

    def live(self, instance_id: str, weight: int, **extra: Any) -> None:
        body = {"state": "live", "weight": weight, **extra}
        self.call("POST", f"/v1/instances/{instance_id}/activation", body)

    def shadow(self, instance_id: str, percent: float) -> None:
        body = {"state": "shadow", "mirror_percent": percent}
        self.call("POST", f"/v1/instances/{instance_id}/activation", body)

    def inactive(self, instance_id: str, **extra: Any) -> None:
        self.call("POST", f"/v1/instances/{instance_id}/activation", {"state": "inactive", **extra})

    def retire(self, instance_id: str) -> None:
        self.call("POST", f"/v1/instances/{instance_id}/retire", {})

    def history(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.call("GET", "/v1/history")
        return entries

    def proxies(self) -> list[dict[str, Any]]:
        proxies: list[dict[str, Any]] = self.call("GET", "/v1/proxies")
        return proxies

    def bootstrap(self, node_id: str, *, listen: str, delta: bool) -> dict[str, Any]:
        return render_bootstrap(
            node_id,
            "test",
            xds=self.xds,
            listen=listen,
            admin=f"127.0.0.1:{free_port()}",
            delta=delta,
        )
