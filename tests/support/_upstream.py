"""The upstream instances tests run are the demo's: one implementation of both."""

from controlplane.demo._upstream import SHADOW_SUFFIX, Counts, Upstream, is_shadow_host

__all__ = ["SHADOW_SUFFIX", "Counts", "Upstream", "is_shadow_host"]
