"""The domain: services, immutable instances, activations, ledger entries and the fold."""

from controlplane.model._durations import Duration, format_duration, parse_duration
from controlplane.model._instance import (
    MAX_WEIGHT,
    Activation,
    ActivationState,
    Instance,
    cluster_name,
    is_ip,
    split_address,
)
from controlplane.model._ledger import (
    ActivationChanged,
    Entry,
    Event,
    InstanceRegistered,
    ProposedEntry,
    ServiceApplied,
    VerdictRecorded,
)
from controlplane.model._rules import check_batch
from controlplane.model._service import (
    DNS_LABEL,
    SERVICE_NAME,
    Retries,
    Risk,
    RolloutDefaults,
    Route,
    RouteMatch,
    ServiceSpec,
    Slo,
    Strategy,
)
from controlplane.model._state import InstanceState, State, apply_event, fold
from controlplane.model._verdict import ArmEvidence, Outcome, Verdict

__all__ = [
    "DNS_LABEL",
    "MAX_WEIGHT",
    "SERVICE_NAME",
    "Activation",
    "ActivationChanged",
    "ActivationState",
    "ArmEvidence",
    "Duration",
    "Entry",
    "Event",
    "Instance",
    "InstanceRegistered",
    "InstanceState",
    "Outcome",
    "ProposedEntry",
    "Retries",
    "Risk",
    "RolloutDefaults",
    "Route",
    "RouteMatch",
    "ServiceApplied",
    "ServiceSpec",
    "Slo",
    "State",
    "Strategy",
    "Verdict",
    "VerdictRecorded",
    "apply_event",
    "check_batch",
    "cluster_name",
    "fold",
    "format_duration",
    "is_ip",
    "parse_duration",
    "split_address",
]
