"""The package's public surface, pinned."""

import controlplane.verdict


def test_exported_names() -> None:
    assert controlplane.verdict.__all__ == [
        "MAX_E_VALUE",
        "SplitCheck",
        "VerdictPolicy",
        "allowed_error_rate",
        "extra_failures",
        "judge",
        "quantile_ms",
        "rate_e_value",
        "share_e_value",
        "split_mismatch",
    ]
