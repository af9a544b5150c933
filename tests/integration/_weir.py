"""`weir serve` as a child process, the way operators run it, and a client for its API.

Tests drive weir through its HTTP API (what the CLI does) and read what Envoy then does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from controlplane.bootstrap import render_bootstrap
from tests.support import free_port

WEIR = str(Path(sys.executable).parent / "weir")
READY_TIMEOUT_S = 20.0


class WeirServer:
    """`weir serve` on free 127.0.0.1 ports over a store file that outlives the process."""

    def __init__(self, workdir: Path, *, store: Path | None = None) -> None:
        self.workdir = workdir
        self.store = store or workdir / "weir.db"
        self.xds = f"127.0.0.1:{free_port()}"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.log_path = workdir / "weir-serve.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(base_url=self.api_url, timeout=10.0, trust_env=False)

    def start(self) -> Self:
        command = [WEIR, "serve", "--store", str(self.store), "--xds", self.xds]
        command += ["--api", self.api_url.removeprefix("http://")]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"weir serve exited: {self.log_path.read_text()}")
            try:
                if self.api.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"weir serve not ready after {READY_TIMEOUT_S}s")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power loss of the process."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
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
