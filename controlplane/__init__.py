"""weir: a service-mesh traffic controller for Envoy.

Production changes one way only: one immutable instance's activation moves from one state to
another. Every change is appended to a ledger; Envoy's configuration is a pure function of the
state folded from it.
"""

__version__ = "0.1.0"
