"""The package's public surface, pinned."""

import controlplane.verdict


def test_exported_names() -> None:
    assert controlplane.verdict.__all__ == [
        "MAX_E_VALUE",
        "ArmCounts",
        "ComparisonCounts",
        "Dispersions",
        "EndpointCounts",
        "Evidence",
        "FieldCounts",
        "InvalidCounts",
        "ObjectivePolicy",
        "SplitCheck",
        "Traffic",
        "VerdictPolicy",
        "allowed_error_rate",
        "decide_objective",
        "excess_e_value",
        "extra_failures",
        "judge",
        "judge_comparison",
        "judge_objective",
        "quantile_ms",
        "rate_e_value",
        "seconds_to_pass",
        "share_e_value",
        "split_mismatch",
        "within_e_value",
    ]
