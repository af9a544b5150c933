"""Baseline: how fast Envoy's own file-based dynamic configuration moves traffic.

Envoy reads CDS and LDS from watched files and the route configuration (RDS) from a third; each
lives in its own watched directory, so a route update reloads the routes alone. A switch writes
the new route file beside the watched one and renames it over it (Envoy reacts to the rename,
never to a file being written in place), flipping the weights between 100/0 and 0/100 of two
upstreams, and is timed to the first response from the new target.

    python -m bench.file_config_baseline [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench._common import DEFAULT_TIMEOUT_S, Prober, summarize, time_switches
from tests.support import (
    EnvoyError,
    EnvoyProcess,
    Upstream,
    eventually,
    http_listener,
    static_cluster,
)

SERVICE = "bench"
LISTENER = "bench_http"
ROUTE_CONFIG = "bench_routes"
TARGETS = ("blue", "green")

_TYPE = "type.googleapis.com/envoy.config."


def measure_file_reload(
    rounds: int, *, timeout: float = DEFAULT_TIMEOUT_S, workdir: Path | None = None
) -> list[float]:
    """Seconds from each route-file rename to the first response from the new target."""
    with (
        tempfile.TemporaryDirectory(prefix="weir-bench-") as scratch,
        Upstream(TARGETS[0]) as blue,
        Upstream(TARGETS[1]) as green,
    ):
        root = workdir or Path(scratch)
        files = _XdsFiles(root / "xds")
        clusters = [static_cluster(u.instance_id, u.address) for u in (blue, green)]
        files.write("cds", _discovery("cluster.v3.Cluster", clusters))
        files.write("rds", _routes(TARGETS[0], 0))
        files.write("lds", _discovery("listener.v3.Listener", [_listener(files.path("rds"))]))
        with EnvoyProcess(_bootstrap(files), root, name="file-envoy", log_level="warning") as envoy:
            host, port = eventually(
                lambda: envoy.listener_address(LISTENER), timeout=timeout, retry_on=EnvoyError
            )
            probe = Prober(host, port, SERVICE)
            version = iter(range(1, rounds + 1))

            def switch(target: str) -> float:
                return files.replace("rds", _routes(target, next(version)))

            try:
                samples = time_switches(switch, probe, TARGETS, rounds, timeout=timeout)
            finally:
                probe.close()
    return samples


class _XdsFiles:
    """One watched directory per resource type, each holding `<type>.yaml`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, kind: str) -> Path:
        return self.root / kind

    def path(self, kind: str) -> Path:
        return self.directory(kind) / f"{kind}.yaml"

    def write(self, kind: str, document: dict[str, Any]) -> None:
        self.directory(kind).mkdir(parents=True, exist_ok=True)
        self.replace(kind, document)

    def replace(self, kind: str, document: dict[str, Any]) -> float:
        """Write beside the watched file, rename over it; time.perf_counter() just before the
        rename, the moment the new configuration is handed to Envoy."""
        staged = self.directory(kind) / f".{kind}.yaml.new"
        staged.write_text(yaml.safe_dump(document, sort_keys=False))
        started = time.perf_counter()
        os.rename(staged, self.path(kind))
        return started


def _discovery(
    type_suffix: str, resources: list[dict[str, Any]], version: int = 0
) -> dict[str, Any]:
    return {
        "version_info": str(version),
        "resources": [{"@type": _TYPE + type_suffix, **r} for r in resources],
    }


def _routes(target: str, version: int) -> dict[str, Any]:
    weights = [{"name": name, "weight": 100 if name == target else 0} for name in TARGETS]
    route = {"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": weights}}}
    vhost = {"name": SERVICE, "domains": [SERVICE], "routes": [route]}
    config = {"name": ROUTE_CONFIG, "virtual_hosts": [vhost]}
    return _discovery("route.v3.RouteConfiguration", [config], version)


def _file_source(path: Path) -> dict[str, Any]:
    return {
        "path_config_source": {"path": str(path), "watched_directory": {"path": str(path.parent)}},
        "resource_api_version": "V3",
    }


def _listener(rds_path: Path) -> dict[str, Any]:
    rds = {"route_config_name": ROUTE_CONFIG, "config_source": _file_source(rds_path)}
    return http_listener(LISTENER, {"rds": rds})


def _bootstrap(files: _XdsFiles) -> dict[str, Any]:
    return {
        "node": {"id": "file-baseline", "cluster": "bench"},
        "dynamic_resources": {
            "cds_config": _file_source(files.path("cds")),
            "lds_config": _file_source(files.path("lds")),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=100, help="route switches (default 100)")
    args = parser.parse_args(argv)
    samples = measure_file_reload(args.rounds)
    print(f"envoy file-based xDS, route rename to first new answer: {summarize(samples)}")


if __name__ == "__main__":
    main()
