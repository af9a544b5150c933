"""Whether a service's events come one by one or in clumps, learnt from its own counts.

Per stream of events (5xx among requests; requests slower than a bound among timed requests),
`Dispersion` keeps exponentially weighted sums of each interval's events E and trials N and
reads the dispersion index

    D = sum (E - r N)^2 / sum r N,   r = sum E / sum N (the stream's own rate),

about 1 (or less) when events are independent given the traffic, and about E[K^2] / E[K] when
they come in clumps of K (a clump of 5 to 20 errors: about 14). A change in the rate over time (a
shared incident) raises it too, which errs on the safe side.

`dependence` is INDEPENDENT only once enough events have shown it, CLUMPED once a few events
have shown clumping, and UNKNOWN otherwise. The judge fails a candidate on per-event evidence
only when events are shown INDEPENDENT -- a clump mistaken for independent events is the false
rollback this guards against -- and passes one on per-event evidence unless they are CLUMPED.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HALF_LIFE_S = 600.0
"""How fast old intervals stop counting: ten minutes of history weigh as much as all before."""
MIN_EVENTS = 10.0
"""Weighted events needed before independence counts as shown."""
MIN_CLUMPED_EVENTS = 5.0
"""Weighted events needed before clumping counts as shown (one clump of five is enough)."""
MAX_DISPERSION = 2.0
"""A dispersion index above this is clumping: independent events give about 1."""


class Dependence(StrEnum):
    INDEPENDENT = "independent"
    CLUMPED = "clumped"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Dispersion:
    """Weighted sums over one stream's intervals (events E, trials N)."""

    events: float = 0.0
    trials: float = 0.0
    events_sq: float = 0.0
    cross: float = 0.0
    trials_sq: float = 0.0

    def add(self, events: int, trials: int, seconds: float) -> Dispersion:
        keep = 0.5 ** (max(seconds, 0.0) / HALF_LIFE_S)
        return Dispersion(
            self.events * keep + events,
            self.trials * keep + trials,
            self.events_sq * keep + events * events,
            self.cross * keep + events * trials,
            self.trials_sq * keep + trials * trials,
        )

    @property
    def spread(self) -> float:
        """The weighted sum of (E - r N)^2, r the stream's own rate."""
        if self.trials <= 0:
            return 0.0
        rate = self.events / self.trials
        return max(0.0, self.events_sq - 2 * rate * self.cross + rate * rate * self.trials_sq)

    @property
    def index(self) -> float | None:
        """The dispersion index, or None before any event."""
        if self.events <= 0:
            return None
        return self.spread / self.events

    @property
    def dependence(self) -> Dependence:
        return dependence_of(self)


def dependence_of(*streams: Dispersion) -> Dependence:
    """How the events of these streams come, each stream at its own rate (the candidate's and
    its baseline's, so that a candidate failing more than its baseline is not taken for a
    clump): their pooled dispersion index, once enough events say so."""
    events = sum(s.events for s in streams)
    if events <= 0:
        return Dependence.UNKNOWN
    index = sum(s.spread for s in streams) / events
    if index > MAX_DISPERSION and events >= MIN_CLUMPED_EVENTS:
        return Dependence.CLUMPED
    if index <= MAX_DISPERSION and events >= MIN_EVENTS:
        return Dependence.INDEPENDENT
    return Dependence.UNKNOWN
