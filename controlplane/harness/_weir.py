"""`weir serve` as a child process on free loopback ports, as the demo, tests and benchmarks
run it: the way operators do, so nothing is measured or shown that they would not see."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from controlplane.auth import forget_local_token, read_local_token
from controlplane.harness._lifecycle import stop_process
from controlplane.harness._ports import free_port

READY_TIMEOUT_S = 60.0
"""The longest a start may take: seconds on an idle machine, many more on a loaded one."""


def weir_command() -> str:
    """The `weir` script of this Python's environment, activated or not."""
    return str(Path(sys.executable).parent / "weir")


class WeirProcess:
    """`weir serve` over a store file that outlives the process (so it can be restarted)."""

    def __init__(
        self,
        workdir: Path,
        *,
        store: Path | None = None,
        options: tuple[str, ...] = (),
        token: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.options = options
        """More `weir serve` options, such as the stats source."""
        self.store = store or workdir / "weir.db"
        self.xds = f"127.0.0.1:{free_port()}"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.log_path = workdir / "weir-serve.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.token = token
        """The admin token `weir serve` issued at its first start and saved for this user, or
        the one given: a replica joining a shared ledger that already has its tokens."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def headers(self) -> dict[str, str]:
        """What a request to the API needs to be let in, as the admin."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self) -> Self:
        new_ledger = self.token is None and not self.store.exists()
        if new_ledger:
            # A new ledger gets a new admin token: never read one left by an earlier server.
            forget_local_token(self.api_url)
        command = [weir_command(), "serve", "--store", str(self.store), "--xds", self.xds]
        # The comparator on a free port too (options given later win): it listens by default.
        command += ["--api", self.api_url.removeprefix("http://"), "--compare", "127.0.0.1:0"]
        command += self.options
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.api_url, timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"weir serve exited:\n{self.log_path.read_text()}")
                try:
                    # The token file is written once the API listens, just after /healthz.
                    healthy = http.get("/healthz").status_code == 200
                    token = read_local_token(self.api_url)
                    if healthy and (token or not new_ledger):
                        self.token = token or self.token
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"weir serve was not ready after {READY_TIMEOUT_S:g}s")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash of the process."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, signum: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop_process(process, signum)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
