"""How long a new instance behind a real Envoy takes to settle: what `verdict.warmup` defaults to.

One `weir serve` and one real Envoy route service `web` to `a` (live, warm). Each round
registers a fresh instance (a new upstream on a new port, so Envoy opens new connections to it)
and makes it live at half the traffic while a client sends GETs through Envoy at a steady rate,
timing each. Per second since the activation, the new instance's p90 latency is compared with
the warm instance's over the same second (the baseline, measured in the same run), and its
errors counted. Printed: the first request it answered in each round, and per second the
median over rounds of the new instance's p90 over the warm one's.

    python -m bench.warmup [--rounds 5] [--rate 200] [--seconds 6]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, Upstream, WeirProcess, free_port

SERVICE = "web"


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    """Seconds since the activation was accepted."""
    instance: str
    seconds: float
    ok: bool


@dataclass(frozen=True, slots=True)
class Round:
    first_answer_s: float | None
    ratios: dict[int, float]
    """Second since the activation -> the new instance's p90 over the warm one's."""
    errors: dict[int, int]
    """Second since the activation -> the new instance's failed requests."""


def _p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def analyse(samples: list[Sample], new: str, warm: str) -> Round:
    mine = [s for s in samples if s.instance == new]
    first = min((s.at_s for s in mine), default=None)
    windows: dict[int, tuple[list[float], list[float]]] = {}
    errors: dict[int, int] = {}
    for s in samples:
        if s.at_s < 0:
            continue
        second = int(s.at_s)
        slot = windows.setdefault(second, ([], []))
        if s.instance == new:
            slot[0].append(s.seconds)
        elif s.instance == warm:
            slot[1].append(s.seconds)
        if not s.ok:
            errors[second] = errors.get(second, 0) + 1
    ratios = {
        second: _p90(n) / _p90(w)
        for second, (n, w) in sorted(windows.items())
        if len(n) >= 5 and len(w) >= 5
    }
    return Round(first, ratios, errors)


def measure(rounds: int, rate: float, seconds: float) -> list[Round]:
    results = []
    with tempfile.TemporaryDirectory(prefix="weir-warmup-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        weir = stack.enter_context(WeirProcess(workdir, options=("--stats", "off")))
        api = stack.enter_context(
            httpx.Client(base_url=weir.api_url, headers=weir.headers, timeout=10, trust_env=False)
        )
        warm = stack.enter_context(Upstream("a"))
        api.put(f"/v1/services/{SERVICE}", json={"name": SERVICE}).raise_for_status()
        _add(api, "a", warm.address)
        _activate(api, "a", 1000)
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "warmup", "bench", xds=weir.xds, listen=listen, admin=f"127.0.0.1:{free_port()}"
        )
        stack.enter_context(EnvoyProcess(bootstrap, workdir, name="envoy"))
        client = stack.enter_context(httpx.Client(timeout=5, trust_env=False))
        url = f"http://{listen}/"
        _until_served(client, url)
        previous: str | None = None
        for n in range(rounds):
            new_id = f"n{n}"
            with Upstream(new_id) as new:
                _add(api, new_id, new.address)
                samples = _drive(client, url, api, new_id, previous, rate, seconds)
            results.append(analyse(samples, new_id, "a"))
            previous = new_id
    return results


def _add(api: httpx.Client, instance_id: str, address: str) -> None:
    body = {"id": instance_id, "service": SERVICE, "version": instance_id, "address": address}
    api.post("/v1/instances", json=body).raise_for_status()


def _activate(api: httpx.Client, instance_id: str, weight: int | None) -> None:
    body = {"state": "live", "weight": weight} if weight else {"state": "inactive"}
    api.post(f"/v1/instances/{instance_id}/activation", json=body).raise_for_status()


def _until_served(client: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if client.get(url, headers={"Host": SERVICE}).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("Envoy never routed the service")


def _drive(
    client: httpx.Client,
    url: str,
    api: httpx.Client,
    new: str,
    previous: str | None,
    rate: float,
    seconds: float,
) -> list[Sample]:
    """Steady requests from one second before the activation to `seconds` after it."""
    if previous is not None:
        _activate(api, previous, None)
    samples: list[Sample] = []
    interval = 1 / rate
    start = time.monotonic()
    activated_at: float | None = None
    next_at = start
    while True:
        now = time.monotonic()
        if activated_at is None and now - start >= 1.0:
            _activate(api, new, 1000)
            activated_at = time.monotonic()
        if activated_at is not None and now - activated_at >= seconds:
            return samples
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
        sent = time.monotonic()
        try:
            response = client.get(url, headers={"Host": SERVICE})
            ok, who = response.status_code == 200, response.text
        except httpx.TransportError:
            ok, who = False, "?"
        took = time.monotonic() - sent
        since = sent - activated_at if activated_at is not None else -1.0
        samples.append(Sample(since, who, took, ok))


def report(results: list[Round]) -> list[str]:
    firsts = [f"{r.first_answer_s * 1000:.0f} ms" for r in results if r.first_answer_s is not None]
    lines = [f"first answer after the activation, per round: {', '.join(firsts) or 'never'}"]
    seconds = sorted({s for r in results for s in r.ratios})
    for second in seconds:
        ratios = [r.ratios[second] for r in results if second in r.ratios]
        errors = sum(r.errors.get(second, 0) for r in results)
        lines.append(
            f"second {second}: new instance's p90 / warm instance's, median over "
            f"{len(ratios)} rounds: {statistics.median(ratios):.2f}x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}); errors {errors}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s (at most 1000)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured after activation")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 50 and 1 <= args.rate <= 1000 and 1 <= args.seconds <= 60):
        parser.error("--rounds 1..50, --rate 1..1000, --seconds 1..60")
    for line in report(measure(args.rounds, args.rate, args.seconds)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
