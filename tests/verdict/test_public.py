"""The package's public surface, pinned."""

import controlplane.verdict


def test_exported_names() -> None:
    assert controlplane.verdict.__all__ == [
        "MAX_E_VALUE",
        "Dispersions",
        "Evidence",
        "InvalidCounts",
        "ObjectivePolicy",
        "SplitCheck",
        "Traffic",
        "VerdictPolicy",
        "allowed_error_rate",
        "decide_objective",
        "extra_failures",
        "judge",
        "judge_objective",
        "quantile_ms",
        "rate_e_value",
        "seconds_to_pass",
        "share_e_value",
        "split_mismatch",
    ]
