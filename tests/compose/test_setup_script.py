"""deploy/setup.sh, run by `sh` as the setup service runs it, against a real `weir serve`: the
ledger then holds the demo's service and instances with v1 live, and a second run adds nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from controlplane.demo import INSTANCES
from controlplane.harness import WeirProcess
from tests.compose._compose import SETUP, host_file, mounts, service

SCRIPT_TIMEOUT_S = 120


def _script_on_host(tmp_path: Path) -> Path:
    """setup.sh with the container's mount paths turned into the repo's."""
    path = host_file(SETUP, service(SETUP)["command"][-1])
    assert path is not None, f"{SETUP} does not mount the script it runs"
    text = path.read_text()
    for mount in mounts(SETUP):
        if mount.is_bind:
            text = text.replace(f"{mount.target}/", f"{mount.host_path}/")
    on_host = tmp_path / "setup.sh"
    on_host.write_text(text)
    return on_host


def _run(script: Path, api_url: str) -> subprocess.CompletedProcess[str]:
    # `weir` and `python3` as the image has them: this Python's environment first on PATH.
    env = {name: value for name, value in os.environ.items() if name != "WEIR_TOKEN"}
    env["WEIR_SERVER"] = api_url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["sh", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def test_the_setup_builds_the_demos_start_once(tmp_path: Path) -> None:
    script = _script_on_host(tmp_path)
    with (
        WeirProcess(tmp_path, options=("--stats", "off")) as weir,
        httpx.Client(
            base_url=weir.api_url, timeout=10.0, trust_env=False, headers=weir.headers
        ) as api,
    ):
        first = _run(script, weir.api_url)
        assert first.returncode == 0, first.stdout + first.stderr

        views: list[dict[str, Any]] = api.get("/v1/instances").json()
        instances = {view["instance"]["id"]: view for view in views}
        assert [(view["instance"]["id"], view["instance"]["version"]) for view in views] == [
            (instance_id, version) for instance_id, version, _ in INSTANCES
        ]
        for instance_id, version, _ in INSTANCES:
            activation = instances[instance_id]["activation"]
            assert activation["state"] == ("live" if version == "v1" else "inactive")
            assert instances[instance_id]["instance"]["address"] == f"{instance_id}:8000"
        entries = len(api.get("/v1/history").json())

        again = _run(script, weir.api_url)

        assert again.returncode == 0, again.stdout + again.stderr
        assert "nothing to do" in again.stdout
        assert len(api.get("/v1/history").json()) == entries
