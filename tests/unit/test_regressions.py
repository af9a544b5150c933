"""Bugs found in controlplane/ and fixed, each pinned by the test that first showed it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.control import Controller
from controlplane.errors import WeirError
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec, State, check_batch
from controlplane.resources import build_resources
from tests.unit._builders import change, commit, go_live, instance, proposed, service

NOT_READ_BACK = {
    "an infinite latency objective (recorded as null)": {"slo": {"latency_p99_ms": math.inf}},
    "an infinite failure cost (recorded as null)": {"risk": {"cost_per_failed_request": math.inf}},
    "a per-try timeout under 0.5ms (recorded as 0ms)": {
        "routes": [{"retries": {"attempts": 1, "per_try_timeout": "0.1ms"}}]
    },
    "a 1.5ms timeout (recorded as 2ms)": {"routes": [{"timeout": "1.5ms"}]},
    "an infinite bake (cannot be recorded)": {"rollout": {"bake": math.inf}},
    "an infinite SLO window (cannot be recorded)": {"slo": {"window": math.inf}},
}


@pytest.mark.parametrize("fields", NOT_READ_BACK.values(), ids=NOT_READ_BACK.keys())
def test_a_service_file_accepted_is_read_back_unchanged_after_a_restart(
    fields: dict[str, Any], tmp_path: Path
) -> None:
    try:
        spec = ServiceSpec.model_validate({"name": "web", **fields})
        store = SqliteStore(tmp_path / "weir.db")
        Controller(store).apply_service(spec, actor="ops")
    except (ValidationError, WeirError):
        return  # refused up front
    store.close()
    again = Controller(SqliteStore(tmp_path / "weir.db"))
    assert again.state.services["web"] == spec


def test_two_instances_never_share_a_cluster() -> None:
    # service a, instance b--c  and  service a--b, instance c  are both cluster "a--b--c"
    try:
        state = commit(
            State(),
            service("a"),
            service("a--b"),
            instance("b--c", "a", address="127.0.0.1:9001"),
            instance("c", "a--b", address="127.0.0.1:9002"),
        )
    except (ValidationError, WeirError):
        return  # refused up front
    assert len(build_resources(state).clusters) == 2


def test_a_change_naming_the_wrong_service_is_refused() -> None:
    # Given web's only live instance, blue
    state = commit(State(), service("web"), service("api"), instance("blue"))
    state = go_live(state, "blue", 100)
    # When a change takes it out of traffic but names service api
    wrong = change(state, "blue", Activation.inactive()).model_copy(update={"service": "api"})
    # Then it is refused (it would leave web with nothing live, unforced, filed under api)
    with pytest.raises(WeirError):
        check_batch(state, proposed(wrong))


@pytest.mark.parametrize(
    "fields",
    [{"address": "web.internal\n:8080"}, {"labels": {"team\n": "web"}}],
    ids=["address", "label key"],
)
def test_a_trailing_newline_is_not_part_of_a_valid_value(fields: dict[str, Any]) -> None:
    document = {"id": "blue", "service": "web", "version": "v1", "address": "127.0.0.1:80"}
    with pytest.raises(ValidationError):
        Instance.model_validate(document | fields)
