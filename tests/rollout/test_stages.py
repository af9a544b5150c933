"""Each strategy as its stages, table-style: pure functions of what the rollout recorded."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from controlplane.model import (
    Activation,
    BlueGreen,
    Canary,
    Partial,
    Plan,
    RolloutState,
    Shadow,
)
from controlplane.rollout import asked_steps, canary_weight, split, stages_of


def rollout(plan: Plan, old: dict[str, int], new: tuple[str, ...] = ("c",)) -> RolloutState:
    prior = {i: Activation.live(w) for i, w in old.items()}
    prior |= {i: Activation.inactive() for i in new}
    return RolloutState(
        id="web/1",
        service="web",
        version="v2",
        plan=plan,
        candidates=new,
        replaced=tuple(old),
        started_seq=1,
        prior=MappingProxyType(prior),
    )


def describe(r: RolloutState) -> list[str]:
    return [
        f"{s.label}: " + ", ".join(f"{i} {a.describe()}" for i, a in s.targets)
        for s in stages_of(r)
    ]


NO_GRACE = {"bake": 0, "grace": 0}
OLD = {"a": 6, "b": 3}

CASES: dict[str, tuple[RolloutState, list[str]]] = {
    "canary": (
        rollout(Canary(steps=(10, 50, 100), **NO_GRACE), OLD),
        [
            "10%: c live weight 1",
            "50%: c live weight 9",
            "100%: a out: a inactive",
            "100%: b out: b inactive",
        ],
    ),
    "canary beside weight 1 scales the old weights first": (
        rollout(Canary(steps=(1, 5, 25, 50, 100), **NO_GRACE), {"a": 1}),
        [
            "old weights x1881 (shares unchanged): a live weight 1881",
            "1%: c live weight 19",  # 19 / 1900: each share exactly as asked
            "5%: c live weight 99",
            "25%: c live weight 627",
            "50%: c live weight 1881",
            "100%: a out: a inactive",
        ],
    ),
    "canary split over two new instances": (
        rollout(Canary(steps=(50, 100), **NO_GRACE), {"a": 9}, ("c", "d")),
        ["50%: c live weight 5, d live weight 4", "100%: a out: a inactive"],
    ),
    "canary straight to 100": (
        rollout(Canary(steps=(100,), **NO_GRACE), OLD),
        [
            "100%: new version live: c live weight 9",
            "100%: a out: a inactive",
            "100%: b out: b inactive",
        ],
    ),
    "canary of a service with nothing live": (
        rollout(Canary(steps=(10, 100), **NO_GRACE), {}),
        ["10%: c live weight 1"],
    ),
    "canary with a grace period: the grace follows completion, it is no step": (
        rollout(Canary(steps=(50, 100), bake=0, grace="5m"), {"a": 9}),
        ["50%: c live weight 9", "100%: a out: a inactive"],
    ),
    "canary at 10% beside a weight of 100: exactly 10%, not 11/111": (
        rollout(Canary(steps=(10, 50, 100), **NO_GRACE), {"a": 100}),
        [
            "old weights x9 (shares unchanged): a live weight 900",
            "10%: c live weight 100",
            "50%: c live weight 900",
            "100%: a out: a inactive",
        ],
    ),
    "partial": (
        rollout(Partial(**NO_GRACE), OLD, ("c", "d")),
        [
            "c live: c live weight 6",
            "a out: a inactive",
            "d live: d live weight 3",
            "b out: b inactive",
        ],
    ),
    "partial with fewer new instances": (
        rollout(Partial(**NO_GRACE), OLD),
        ["c live: c live weight 6", "a out: a inactive", "b out: b inactive"],
    ),
    "blue-green": (
        rollout(BlueGreen(**NO_GRACE), OLD, ("c", "d")),
        ["switch: c live weight 6, d live weight 3, a inactive, b inactive"],
    ),
    "blue-green verified in shadow": (
        rollout(BlueGreen(verify_in_shadow=True, mirror_percent=20, **NO_GRACE), OLD),
        ["shadow 20%: c shadow 20%", "switch: c live weight 9, a inactive, b inactive"],
    ),
    "shadow, then a canary": (
        rollout(Shadow(mirror_percent=10, steps=(10, 100), **NO_GRACE), OLD),
        [
            "shadow 10%: c shadow 10%",
            "10%: c live weight 1",
            "100%: a out: a inactive",
            "100%: b out: b inactive",
        ],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_stages(case: str) -> None:
    r, expected = CASES[case]
    assert describe(r) == expected


def test_the_rescale_is_neither_judged_nor_baked() -> None:
    r = rollout(Canary(steps=(1, 100), bake=60, grace=60), {"a": 1})
    assert [(s.judged, s.hold_s) for s in stages_of(r)] == [
        (False, 0.0),  # rescale: shares do not move
        (True, 60.0),
        (True, 60.0),  # a out: its verdict is awaited only if the evaluator judges it
    ]


@pytest.mark.parametrize(
    ("plan", "old", "steps", "of_stage"),
    [
        # A preparing rescale belongs to the first step; every old instance out is "100%".
        (Canary(steps=(10, 50, 100), **NO_GRACE), {"a": 100, "b": 100}, ["10%", "50%", "100%"],
         ["10%", "10%", "50%", "100%", "100%"]),
        (Shadow(mirror_percent=20, steps=(20, 50, 100), **NO_GRACE), {"a": 50, "b": 50},
         ["shadow 20%", "20%", "50%", "100%"],
         ["shadow 20%", "20%", "50%", "100%", "100%"]),
        (BlueGreen(verify_in_shadow=True, **NO_GRACE), OLD, ["shadow 10%", "switch"],
         ["shadow 10%", "switch"]),
    ],
)  # fmt: skip
def test_steps_are_counted_as_the_operator_asked_them(
    plan: Plan, old: dict[str, int], steps: list[str], of_stage: list[str]
) -> None:
    r = rollout(plan, old)
    assert asked_steps(r) == steps
    assert [s.step for s in stages_of(r)] == of_stage


@pytest.mark.parametrize(
    ("old_total", "percent", "weight"),
    [(9, 10, 1), (9, 50, 9), (990, 1, 10), (100, 25, 33), (0, 10, 1), (1, 1, 1)],
)
def test_canary_weight_gives_the_step_its_share(
    old_total: int, percent: float, weight: int
) -> None:
    assert canary_weight(old_total, percent) == weight


@pytest.mark.parametrize(
    ("total", "parts", "weights"),
    [(9, 2, [5, 4]), (1, 3, [1, 1, 1]), (6, 3, [2, 2, 2]), (3_000_000, 2, [1_000_000, 1_000_000])],
)
def test_split_keeps_each_weight_between_1_and_the_maximum(
    total: int, parts: int, weights: list[int]
) -> None:
    assert split(total, parts) == weights
