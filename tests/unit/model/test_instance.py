"""Instances are immutable and well-formed; an activation's fields fit its state."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.model import (
    MAX_WEIGHT,
    Activation,
    ActivationState,
    Instance,
    instance_of_cluster,
    split_address,
)


def instance(**fields: Any) -> Instance:
    document = {"id": "blue-1", "service": "web", "version": "1.2.3", "address": "10.0.0.1:8080"}
    return Instance.model_validate(document | fields)


def bad_field(**fields: Any) -> tuple[int | str, ...]:
    with pytest.raises(ValidationError) as caught:
        instance(**fields)
    (error,) = caught.value.errors()
    return error["loc"]


def test_a_well_formed_instance_is_named_for_its_service_and_id() -> None:
    assert instance().cluster_name == "web--blue-1"


def test_a_cluster_name_reads_back_as_its_service_and_instance() -> None:
    assert instance_of_cluster(instance(id="blue-1").cluster_name) == ("web", "blue-1")
    assert instance_of_cluster("weir_xds") is None  # the bootstrap's own cluster


@pytest.mark.parametrize("instance_id", ["Blue", "blue_1", "-blue", "blue-", "b.1", "", "x" * 64])
def test_an_id_is_a_dns_label(instance_id: str) -> None:
    assert bad_field(id=instance_id) == ("id",)


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        ("10.0.0.1:8080", "10.0.0.1", 8080),
        ("[::1]:80", "::1", 80),
        ("[2001:db8::5]:443", "2001:db8::5", 443),
        ("web.internal:1", "web.internal", 1),
        ("localhost:65535", "localhost", 65535),
    ],
)
def test_an_address_is_host_colon_port(address: str, host: str, port: int) -> None:
    assert instance(address=address).address == address
    assert split_address(address) == (host, port)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "10.0.0.1:",
        ":8080",
        "::1:80",
        "[::1]",
        "[not-ipv6]:80",
        "web:0",
        "web:65536",
        "web:-1",
        "web:http",
        "bad host:80",
        "web/path:80",
    ],
)
def test_a_malformed_address_or_port_is_refused(address: str) -> None:
    assert bad_field(address=address) == ("address",)


@pytest.mark.parametrize("labels", [{"bad key": "v"}, {"-k": "v"}, {"k" * 64: "v"}])
def test_label_keys_are_checked(labels: dict[str, str]) -> None:
    assert bad_field(labels=labels) == ("labels",)


def test_an_instance_cannot_be_edited() -> None:
    blue = instance()
    with pytest.raises(ValidationError):
        blue.address = "10.0.0.2:8080"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("activation", "state"),
    [
        (Activation.inactive(), ActivationState.INACTIVE),
        (Activation.live(0), ActivationState.LIVE),
        (Activation.live(MAX_WEIGHT), ActivationState.LIVE),
        (Activation.shadow(12.5), ActivationState.SHADOW),
        (Activation.retired(), ActivationState.RETIRED),
    ],
)
def test_each_state_built_with_its_fields(activation: Activation, state: ActivationState) -> None:
    assert activation.state is state
    assert Activation.model_validate_json(activation.model_dump_json()) == activation


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"state": "live"}, "needs a weight"),
        ({"state": "shadow"}, "needs mirror_percent"),
        ({"state": "inactive", "weight": 5}, "weight applies only to live"),
        ({"state": "retired", "mirror_percent": 5}, "mirror_percent applies only to shadow"),
        ({"state": "live", "weight": 5, "mirror_percent": 5}, "mirror_percent applies only"),
        ({"state": "shadow", "mirror_percent": 5, "weight": 1}, "weight applies only"),
        ({"state": "live", "weight": -1}, "greater than or equal to 0"),
        ({"state": "live", "weight": MAX_WEIGHT + 1}, "less than or equal to"),
        ({"state": "shadow", "mirror_percent": 100.5}, "less than or equal to 100"),
        ({"state": "paused"}, "'inactive', 'shadow', 'live' or 'retired'"),
    ],
)
def test_fields_that_do_not_fit_the_state_are_refused(
    document: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Activation.model_validate(document)


def test_describe_reads_as_an_operator_would_say_it() -> None:
    assert Activation.live(80).describe() == "live weight 80"
    assert Activation.shadow(5.0).describe() == "shadow 5%"
    assert Activation.inactive().describe() == "inactive"
