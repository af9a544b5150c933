"""The package's public surface, pinned."""

import controlplane.compare


def test_exported_names() -> None:
    assert controlplane.compare.__all__ == [
        "REDACTED",
        "Answer",
        "Comparator",
        "ComparatorLimits",
        "Differences",
        "FieldOutcome",
        "Rules",
        "differences",
        "fields_of",
    ]
