"""Betting e-processes, advanced one interval of counts at a time.

A test here is a gambler's wealth. It starts at 1; at each unit of evidence it stakes a share of
its wealth on the outcome the null hypothesis says is rare, at odds that are fair under the null.
So its wealth is a non-negative supermartingale under the null, and by Ville's inequality it
ever reaches 1/alpha with probability at most alpha: the evaluator may look at it every second.
Each test bets with several fixed stakes at once (a grid) and its e-value is their average, so it
is not staked on one guess of how large a harm is; the average of e-processes is one.

What is a unit of evidence is the point of this module (see `_judge` for why):

- one event (a 5xx, or a request slower than a bound) when events are independent;
- one *run* of intervals in which either side had events, when events come in clumps: a clump
  that spans several seconds is then one bet, not one bet per event or per second;
- for a test of one side against a fixed rate, one request when requests are independent, else
  one *bin* of `BIN_S` seconds.

Two shapes of test:

`Paired` -- of the events seen on the candidate and its baseline in the same interval, the null
says that each lands on the candidate with probability at most p (the candidate's share of the
interval's requests: Lindon & Malek's conditional test, which is indifferent to how the common
rate moves, so a shared incident is no evidence). A run's fraction X of events on the candidate
then has mean at most the run's event-weighted share, whatever the events inside the run did
together, and the bet (1 - c) + c X / p has mean at most 1. Betting on the baseline's side
instead (1 - X against 1 - q) gives the passing test: "the candidate is worse by the tolerance".

`Rate` -- k events in n trials against a fixed rate x, "at most x" or "at least x". Per trial the
bet on alternative rate p_r is the likelihood ratio, a product over trials that is the classic
mixture SPRT on cumulative counts; per bin it is the bounded-mean bet on Y = k / n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MAX_LOG_E = math.log(1e100)
"""e-values are capped at 1e100 so that they stay finite floats."""

STAKES: tuple[float, ...] = (0.03, 0.08, 0.15, 0.3, 0.5, 0.7, 0.87, 0.97)
"""The shares of wealth staked per unit of evidence, equally weighted."""
_LOG_KEEP = tuple(math.log1p(-c) for c in STAKES)

ODDS_ABOVE: tuple[float, ...] = (1.25, 1.8, 2.7, 4.5, 8.0, 16.0, 60.0, 1000.0)
"""Per-trial alternatives to "the rate is at most x": odds ratios against x."""
ODDS_BELOW: tuple[float, ...] = (0.8, 0.6, 0.45, 0.3, 0.2, 0.12, 0.06, 0.02)
"""Per-trial alternatives to "the rate is at least x"."""

RUN_CAP_S = 5.0
"""A run of intervals with events ends at the first interval without any, or after this long:
so that a side that fails all the time is still judged every few seconds."""
BIN_S = 5.0
"""When one side is tested against a fixed rate and its events come in clumps, a bin of this
long is one unit."""

_FLAT = (0.0,) * len(STAKES)

Unit = Literal["event", "interval", "run", "skip"]
_ODDS_TERMS_ABOVE = tuple((math.log(r), r - 1) for r in ODDS_ABOVE)
_ODDS_TERMS_BELOW = tuple((math.log(r), r - 1) for r in ODDS_BELOW)


def log_mean_exp(values: tuple[float, ...]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def capped_e(log_wealth: tuple[float, ...]) -> float:
    return math.exp(min(log_mean_exp(log_wealth), MAX_LOG_E))


@dataclass(frozen=True, slots=True)
class Paired:
    """A paired test's wealth per stake, and the run it has not yet bet on.

    `hits` are the events on the side the test bets on (the candidate when failing it, the
    baseline when passing it); `p` is the most the null allows for a hit's probability.
    """

    log_wealth: tuple[float, ...] = _FLAT
    log_e: float = 0.0
    """log of the e-value: the mean of the stakes' wealth."""
    units: int = 0
    run_hits: float = 0.0
    run_events: float = 0.0
    run_expected: float = 0.0
    """Sum over the run's intervals of events x p: the run's expected hits under the null."""
    run_s: float = 0.0

    @property
    def e_value(self) -> float:
        return math.exp(min(self.log_e, MAX_LOG_E))

    def add(self, hits: int, misses: int, p: float, seconds: float, unit: Unit) -> Paired:
        """One interval: `hits` and `misses` events, each a hit with probability at most `p`
        under the null, bet on as `unit` says: each event on its own (they are independent),
        the interval as one (a surge: many events at once), as part of a run, or not at all."""
        events = hits + misses
        if unit == "run":
            if events == 0:
                return self.close_run()
            test = Paired(
                self.log_wealth,
                self.log_e,
                self.units,
                self.run_hits + hits,
                self.run_events + events,
                self.run_expected + events * p,
                self.run_s + seconds,
            )
            return test.close_run() if test.run_s >= RUN_CAP_S else test
        test = self.close_run()
        if unit == "skip" or events == 0 or p >= 1:
            return test
        if unit == "interval":
            return test._bet_fraction(hits / events, p)
        return test._bet_events(hits, misses, p)

    def close_run(self) -> Paired:
        """Bet on the open run (if any): its share of hits against what the null expects."""
        if not self.run_events:
            return self
        p = self.run_expected / self.run_events
        x = self.run_hits / self.run_events
        closed = Paired(self.log_wealth, self.log_e, self.units)
        if p >= 1:
            return closed
        return closed._bet_fraction(x, p)

    def _bet_events(self, hits: int, misses: int, p: float) -> Paired:
        if p <= 0:
            return self._impossible() if hits else self
        odds = 1 / p - 1
        log1p = math.log1p
        wealth = tuple(
            w + hits * log1p(c * odds) + misses * keep
            for w, c, keep in zip(self.log_wealth, STAKES, _LOG_KEEP, strict=True)
        )
        return self._with(wealth, hits + misses)

    def _bet_fraction(self, x: float, p: float) -> Paired:
        if p <= 0:
            return self._impossible() if x > 0 else self
        ratio = x / p - 1
        log1p = math.log1p
        wealth = tuple(w + log1p(c * ratio) for w, c in zip(self.log_wealth, STAKES, strict=True))
        return self._with(wealth, 1)

    def _impossible(self) -> Paired:
        """A hit the null gives no chance: the null is refuted outright."""
        return self._with((MAX_LOG_E,) * len(STAKES), 1)

    def _with(self, wealth: tuple[float, ...], units: int) -> Paired:
        wealth = _cap(wealth)
        return Paired(wealth, log_mean_exp(wealth), self.units + units)


@dataclass(frozen=True, slots=True)
class Rate:
    """A one-sided test of a rate against a bound: "at most x" (`above`: evidence that it is
    higher) or "at least x". Per trial, or per bin of BIN_S seconds."""

    above: bool
    log_wealth: tuple[float, ...] = _FLAT
    log_e: float = 0.0
    bin_events: float = 0.0
    bin_trials: float = 0.0
    bin_s: float = 0.0

    @property
    def e_value(self) -> float:
        return math.exp(min(self.log_e, MAX_LOG_E))

    def add(self, events: int, trials: int, bound: float, seconds: float, per_trial: bool) -> Rate:
        if per_trial:
            test = self.close_bin(bound) if self.bin_s else self
            return test._bet_trials(events, trials, bound)
        test = Rate(
            self.above,
            self.log_wealth,
            self.log_e,
            self.bin_events + events,
            self.bin_trials + trials,
            self.bin_s + seconds,
        )
        return test.close_bin(bound) if test.bin_s >= BIN_S else test

    def close_bin(self, bound: float) -> Rate:
        if not self.bin_s:
            return self
        closed = Rate(self.above, self.log_wealth, self.log_e)
        if not self.bin_trials:
            return closed
        y = self.bin_events / self.bin_trials
        if self.above:
            if bound <= 0:
                return closed._refuted() if y > 0 else closed
            if bound >= 1:
                return closed
            ratio = y / bound
        else:
            if bound >= 1:
                return closed._refuted() if y < 1 else closed
            if bound <= 0:
                return closed
            ratio = (1 - y) / (1 - bound)
        wealth = tuple(
            w + math.log1p(c * (ratio - 1)) for w, c in zip(self.log_wealth, STAKES, strict=True)
        )
        return closed._with(wealth)

    def _bet_trials(self, events: int, trials: int, bound: float) -> Rate:
        if trials <= 0:
            return self
        if bound <= 0 or bound >= 1:
            # "at most 0" dies with the first event, "at least 1" with the first non-event
            refuted = (bound <= 0 and self.above and events > 0) or (
                bound >= 1 and not self.above and events < trials
            )
            return self._refuted() if refuted else self
        terms = _ODDS_TERMS_ABOVE if self.above else _ODDS_TERMS_BELOW
        log1p = math.log1p
        wealth = tuple(
            w + events * log_r - trials * log1p(r_less_1 * bound)
            for w, (log_r, r_less_1) in zip(self.log_wealth, terms, strict=True)
        )
        return self._with(wealth)

    def _refuted(self) -> Rate:
        return self._with((MAX_LOG_E,) * len(STAKES))

    def _with(self, wealth: tuple[float, ...]) -> Rate:
        wealth = _cap(wealth)
        return Rate(self.above, wealth, log_mean_exp(wealth))


def _cap(wealth: tuple[float, ...]) -> tuple[float, ...]:
    """Wealth beyond the cap says nothing more (and must stay a float)."""
    if max(wealth) <= MAX_LOG_E:
        return wealth
    return tuple(min(w, MAX_LOG_E) for w in wealth)
