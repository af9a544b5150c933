"""The sample-ratio check: do the proxies split traffic as weir asked?"""

from __future__ import annotations

import random

import pytest

from controlplane.verdict import MAX_E_VALUE, split_mismatch


def test_a_split_as_asked_is_no_mismatch() -> None:
    check = split_mismatch({"a": 95, "b": 905}, {"a": 1, "b": 9})
    assert not check.mismatch and check.e_value < 1
    assert check.shares == {"a": (0.095, 0.1), "b": (0.905, 0.9)}
    assert "within chance" in check.reason


def test_a_split_far_from_the_weights_names_the_instance_most_off() -> None:
    check = split_mismatch({"a": 200, "b": 3_000, "c": 6_800}, {"a": 10, "b": 30, "c": 60})
    assert check.mismatch and check.e_value >= check.threshold == 100
    assert check.worst == "a"
    assert check.reason.startswith("a served 2.00% of 10,000 requests against 10.00% asked")


def test_traffic_to_an_instance_given_no_weight_is_a_mismatch() -> None:
    check = split_mismatch({"a": 900, "b": 100, "old": 3}, {"a": 9, "b": 1})
    assert check.mismatch and check.e_value == MAX_E_VALUE and check.worst == "old"


def test_an_instance_missing_from_the_counts_served_nothing() -> None:
    check = split_mismatch({"a": 5_000}, {"a": 1, "b": 1})
    assert check.mismatch and check.worst in {"a", "b"}
    assert check.shares["b"] == (0.0, 0.5)


def test_no_requests_is_no_mismatch() -> None:
    check = split_mismatch({}, {"a": 1})
    assert not check.mismatch and check.worst is None and check.requests == 0


@pytest.mark.parametrize(
    ("expected", "alpha"), [({"a": 0, "b": 0}, 0.01), ({"a": 1}, 0.0), ({"a": 1}, 1.0)]
)
def test_nonsense_is_refused(expected: dict[str, float], alpha: float) -> None:
    with pytest.raises(ValueError):
        split_mismatch({"a": 1}, expected, alpha)


def test_a_split_as_asked_checked_every_second_rarely_ever_mismatches() -> None:
    """Anytime-valid: read after every second of 20 requests, for ten minutes."""
    weights = {"a": 1.0, "b": 3.0, "c": 6.0}
    names = list(weights)
    rng = random.Random(5)
    runs, flagged, alpha = 200, 0, 0.05
    for _ in range(runs):
        observed = dict.fromkeys(names, 0)
        for _second in range(600):
            for name in rng.choices(names, cum_weights=(1, 4, 10), k=20):
                observed[name] += 1
            if split_mismatch(observed, weights, alpha).mismatch:
                flagged += 1
                break
    assert flagged <= alpha * runs
