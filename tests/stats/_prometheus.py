"""A real Prometheus server (the Debian package's /usr/bin/prometheus) in a temp directory.

It scrapes the given targets' `/stats/prometheus` every second and answers on
127.0.0.1:<free port>. Started and stopped by its PID; every wait is bounded.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import yaml

from controlplane.harness import stop_process
from tests.support import free_port

BINARY = "/usr/bin/prometheus"
READY_TIMEOUT_S = 30.0


def find_prometheus() -> str:
    """The Prometheus binary; .ci/run installs the Debian package when it is missing."""
    path = BINARY if Path(BINARY).exists() else shutil.which("prometheus")
    if path is None:
        raise RuntimeError(
            f"no Prometheus server at {BINARY}: apt-get install prometheus (.ci/run does)"
        )
    return path


class PrometheusServer:
    def __init__(self, workdir: Path, targets: Sequence[str]) -> None:
        self.workdir = workdir / "prometheus"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = self.workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "envoy",
                    "metrics_path": "/stats/prometheus",
                    "static_configs": [{"targets": list(targets)}],
                }
            ],
        }
        self.config_path = self.workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        command = [
            find_prometheus(),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
            "--log.level=warn",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=1.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"prometheus exited:\n{self.log_tail()}")
                try:
                    if http.get(f"{self.url}/-/ready").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus was not ready after {READY_TIMEOUT_S:g}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop_process(process)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
