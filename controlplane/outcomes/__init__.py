"""Business outcomes per instance: what each objective's source reports, for the evaluator.

Sources: the instances' outcome header, learnt through Envoy's gRPC access logs (`_als`);
a PromQL expression per objective (`_promql`); late outcomes pushed to the API (`_late`).
"""

from controlplane.model import OutcomeCounts, Outcomes

__all__ = ["OutcomeCounts", "Outcomes"]
