"""The size of everything the ledger accepts, in one place (README, "Limits").

Every string an operator or a client sends is bounded here, and every list and mapping, so
no single entry can grow a state Envoy cannot be sent (the size of whole xDS messages is
checked before an append: controlplane.resources.message_refusal).
"""

# Kept with the stdlib-only units (the CLI reads them without the models); named here too.
from controlplane.units import MAX_DNS_LABEL as MAX_DNS_LABEL
from controlplane.units import MAX_DURATION_TEXT as MAX_DURATION_TEXT
from controlplane.units import MAX_HOST as MAX_HOST

MAX_ADDRESS = MAX_HOST + 8
"""host:port, the host of an IPv6 address in brackets."""
MAX_DOMAINS = 64
"""Host values routed to one service."""
MAX_ROUTES = 64
"""Routes of one service."""
MAX_PATH = 1024
"""A route's path or prefix."""
MAX_MATCH_HEADERS = 16
MAX_HEADER_VALUE = 1024
MAX_LABELS = 64
"""Labels of one instance."""
MAX_LABEL_VALUE = 256
MAX_STEPS = 100
"""Steps of a rollout."""
MAX_ROLLOUT_INSTANCES = 1000
"""Instances one rollout may touch (candidates and replaced)."""
MAX_VERDICT_REASON = 4096
MAX_COMPARED_ENDPOINTS = 20
"""Endpoints a comparison verdict keeps (those with failing fields first)."""
MAX_COMPARED_FIELDS = 20
"""Fields per endpoint a comparison verdict keeps (failing ones first)."""
MAX_COMPARISON_TEXT = 1024
"""An endpoint, a field, or an example's method, path or value as a comparison verdict keeps
it: the comparator cuts what is longer (a field's path is made of an answer's keys)."""
