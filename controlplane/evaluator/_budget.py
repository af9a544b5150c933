"""Error budget and burn rates of a service, as the SRE workbook defines them.

The budget is the share of requests the SLO allows to fail (1 - success_rate) over its window.
A burn rate is the observed error rate over the budgeted one. Alerting pairs a long window with
a short one so an alert both means something and stops soon after the problem does.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.evaluator._series import CounterSeries
from controlplane.model import Slo

# (long window, short window, burn-rate threshold): the workbook's multiwindow alerts
BURN_ALERTS: tuple[tuple[float, float, float], ...] = (
    (3600.0, 300.0, 14.4),
    (6 * 3600.0, 1800.0, 6.0),
    (3 * 86400.0, 6 * 3600.0, 1.0),
)
MIN_REQUESTS = 100
"""Fewer requests over the window than this say too little to freeze anything."""


@dataclass(frozen=True, slots=True)
class BurnRate:
    long_window_s: float
    short_window_s: float
    threshold: float
    long: float | None
    short: float | None

    @property
    def alerting(self) -> bool:
        return (
            self.long is not None
            and self.short is not None
            and self.long > self.threshold
            and self.short > self.threshold
        )


@dataclass(frozen=True, slots=True)
class Budget:
    service: str
    success_rate: float
    window_s: float
    requests: float
    errors: float
    allowed_failures: float
    remaining: float | None
    """Share of the budget left: 1 untouched, 0 spent, negative overspent; None without data."""
    burn_rates: tuple[BurnRate, ...]

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


def budget_of(service: str, slo: Slo, series: CounterSeries) -> Budget:
    allowed_rate = 1 - slo.success_rate / 100
    total = series.increase(slo.window)
    allowed = allowed_rate * total.requests
    remaining: float | None = None
    if total.requests >= MIN_REQUESTS:
        remaining = (
            1 - total.errors / allowed if allowed > 0 else (1.0 if not total.errors else -1.0)
        )
    rates = []
    for long_w, short_w, threshold in BURN_ALERTS:
        rates.append(
            BurnRate(
                long_w,
                short_w,
                threshold,
                _burn(series, min(long_w, slo.window), allowed_rate),
                _burn(series, min(short_w, slo.window), allowed_rate),
            )
        )
    return Budget(
        service=service,
        success_rate=slo.success_rate,
        window_s=slo.window,
        requests=total.requests,
        errors=total.errors,
        allowed_failures=allowed,
        remaining=remaining,
        burn_rates=tuple(rates),
    )


def _burn(series: CounterSeries, window: float, allowed_rate: float) -> float | None:
    rate = series.increase(window).error_rate
    if rate is None:
        return None
    if allowed_rate <= 0:
        return float("inf") if rate > 0 else 0.0
    return rate / allowed_rate
