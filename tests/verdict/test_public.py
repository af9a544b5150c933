"""The package's public surface, pinned."""

import controlplane.verdict


def test_exported_names() -> None:
    assert controlplane.verdict.__all__ == [
        "MAX_E_VALUE",
        "ArmCounts",
        "ComparisonCounts",
        "EndpointCounts",
        "FieldCounts",
        "SplitCheck",
        "VerdictPolicy",
        "allowed_error_rate",
        "excess_e_value",
        "extra_failures",
        "judge",
        "judge_comparison",
        "quantile_ms",
        "rate_e_value",
        "share_e_value",
        "split_mismatch",
        "within_e_value",
    ]
