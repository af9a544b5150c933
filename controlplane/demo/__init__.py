"""`weir demo`: the scripted tour, and the story it tells (a service file, instances of
three versions, one of them failing) that docker compose wires up too.

The processes it runs (weir serve, Envoy, upstreams, steady traffic) are
`controlplane.harness`'s; the tour runs weir's commands through a callable it is given.
"""

from controlplane.demo._tour import ERROR_STATUS, INSTANCES, SERVICE_FILE, Weir, run_tour

__all__ = ["ERROR_STATUS", "INSTANCES", "SERVICE_FILE", "Weir", "run_tour"]
