"""The comparator's bounds: light, so a server's configuration can name them without loading
the comparator (aiohttp)."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane import defaults


@dataclass(frozen=True, slots=True)
class ComparatorLimits:
    """The comparator's bounds (`weir serve --compare-*`)."""

    concurrency: int = defaults.COMPARE_CONCURRENCY
    """Compared requests in flight (each is three requests to instances)."""
    rate: float = defaults.COMPARE_RATE
    """Compared requests admitted per second, in bursts of at most a second's worth."""
    max_body: int = defaults.COMPARE_MAX_BODY
    """Bytes of a request's body, and of each answer's, that are read."""

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.rate <= 0 or self.max_body < 1:
            raise ValueError("comparator limits must be positive")
