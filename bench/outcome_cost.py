"""weir's CPU for the outcome header: parsing and folding Envoy's access-log entries.

In process, no Envoy: messages shaped as Envoy 1.40 sends them to weir's access-log service
(upstream cluster, the header's value in dynamic metadata `weir.outcome`), 100 entries a
message, one in twenty with an order; received and folded for a service with a ratio and a mean
objective read from the header. Prints the CPU per entry and, as a ratio, the share of one core
that 1,000 logged requests a second cost, against decoding the same messages alone (the
baseline: what any gRPC access-log receiver pays).

    python -m bench.outcome_cost [--seconds 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from envoy.service.accesslog.v3 import als_pb2

from controlplane.model import Activation, Instance, InstanceState, ServiceSpec, State
from controlplane.outcomes._als import AccessLogOutcomes

SPEC = ServiceSpec.model_validate(
    {
        "name": "shop",
        "objectives": [
            {"name": "orders", "kind": "ratio", "source": {"header": "order"}},
            {"name": "revenue", "kind": "mean", "source": {"header": "revenue"}},
        ],
    }
)


def message(entries: int = 100) -> bytes:
    msg = als_pb2.StreamAccessLogsMessage()
    for i in range(entries):
        entry = msg.http_logs.log_entry.add()
        entry.common_properties.upstream_cluster = "shop--a"
        fields = entry.common_properties.metadata.filter_metadata["weir.outcome"].fields
        fields["outcome"].string_value = "order=1; revenue=12.50" if i % 20 == 0 else "order=0"
        entry.request.path = "/checkout/basket"
        entry.response.response_code.value = 200
    data: bytes = msg.SerializeToString()
    return data


def measure(seconds: float) -> tuple[float, float]:
    """CPU seconds per entry: decode alone, decode and fold."""
    instance = Instance(id="a", service="shop", version="v1", address="127.0.0.1:1")
    state = State(
        services={"shop": SPEC}, instances={"a": InstanceState(instance, Activation.live(1), 1)}
    )
    data = message()
    receiver = AccessLogOutcomes(lambda: state, directory=None)
    results = []
    for fold in (False, True):
        started, entries = time.process_time(), 0
        while time.process_time() - started < seconds:
            decoded = als_pb2.StreamAccessLogsMessage.FromString(data)
            if fold:
                receiver.receive("n1", decoded.http_logs.log_entry)
            entries += 100
        results.append((time.process_time() - started) / entries)
    return results[0], results[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outcome_cost", description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    decode, total = measure(args.seconds)
    print(f"decode only (baseline): {1e6 * decode:.2f} us CPU per entry")
    print(f"decode + fold:          {1e6 * total:.2f} us CPU per entry ({total / decode:.1f}x)")
    print(f"per 1,000 logged requests/s: {100 * 1000 * total:.2f}% of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
