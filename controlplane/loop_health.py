"""How busy the one event loop of `weir serve` is: the evaluator's tick time, and how late the
loop runs what it has scheduled.

The API, xDS, the metrics sink, the evaluator and the rollout driver share one loop, so any
work that holds it delays all the others. Both figures are /metrics histograms:

- `weir_evaluator_tick_seconds`: each evaluator tick's wall time (it hands the loop back in
  slices, so this is how long a tick takes, not how long it blocks);
- `weir_event_loop_lag_seconds`: how much later than asked a short sleep wakes, sampled every
  `LAG_INTERVAL_S` — what a request or a push arriving then would wait before it is looked at.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Histogram

TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LAG_INTERVAL_S = 0.1


class LoopHealth:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._ticks = Histogram(
            "weir_evaluator_tick_seconds",
            "Wall time of each evaluator tick (read stats, track budgets, judge open changes)",
            buckets=TICK_BUCKETS,
            registry=registry,
        )
        self._lag = Histogram(
            "weir_event_loop_lag_seconds",
            "How late the event loop (API, xDS, evaluator) ran a timer due then",
            buckets=LAG_BUCKETS,
            registry=registry,
        )

    def tick(self, seconds: float) -> None:
        self._ticks.observe(seconds)

    async def watch_lag(self, interval_s: float = LAG_INTERVAL_S) -> None:
        """Sample the loop's lag until cancelled."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(interval_s)
            self._lag.observe(max(0.0, time.monotonic() - asked - interval_s))
