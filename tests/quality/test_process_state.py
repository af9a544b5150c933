"""No process-wide state but what `serve` declares at its top: the xDS server leaves the
garbage collector alone, `serve` sets its pace unless told not to. Each case runs in a fresh
interpreter, whose GC is Python's default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from controlplane._gc import PYTHON_YOUNG_THRESHOLD, YOUNG_GC_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, gc, json, os, signal, sys
from pathlib import Path
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.serve import ServeConfig, serve
from controlplane.xds import XdsServer

async def main(workdir: Path, options: dict) -> None:
    seen = {}
    server = XdsServer(Controller(SqliteStore(workdir / "plain.db")))
    await server.start("127.0.0.1:0")
    seen["xds_server"] = gc.get_threshold()[0]
    await server.stop(0)

    def ready(listening) -> None:
        seen["serve"] = gc.get_threshold()[0]
        os.kill(os.getpid(), signal.SIGTERM)

    config = ServeConfig.on_free_ports(stats="off", **options)
    await serve(SqliteStore(workdir / "weir.db"), config, on_ready=ready)
    print(json.dumps(seen))

asyncio.run(main(Path(sys.argv[1]), json.loads(sys.argv[2])))
"""


def young_thresholds(workdir: Path, **options: object) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(workdir), json.dumps(options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen: dict[str, int] = json.loads(result.stdout.splitlines()[-1])
    return seen


def test_serve_sets_the_gc_pace_and_the_xds_server_does_not(tmp_path: Path) -> None:
    assert young_thresholds(tmp_path) == {
        "xds_server": PYTHON_YOUNG_THRESHOLD,
        "serve": YOUNG_GC_THRESHOLD,
    }


def test_serve_can_leave_the_gc_alone(tmp_path: Path) -> None:
    assert young_thresholds(tmp_path, young_gc_threshold=None) == {
        "xds_server": PYTHON_YOUNG_THRESHOLD,
        "serve": PYTHON_YOUNG_THRESHOLD,
    }


def test_serve_takes_a_pace_of_its_own(tmp_path: Path) -> None:
    assert young_thresholds(tmp_path, young_gc_threshold=2000)["serve"] == 2000
