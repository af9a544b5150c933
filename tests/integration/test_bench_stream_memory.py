"""The stream-memory attribution runs end to end (a few clients, not a measurement)."""

from __future__ import annotations

import pytest

from bench.stream_memory import measure_stream_memory, report


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_each_stream_s_memory_is_split_between_weir_grpc_and_the_c_heap(delta: bool) -> None:
    result = measure_stream_memory(20, delta=delta, top=5, changes=4, every=2)

    assert result.clients == 20
    # Every stream holds a session and a pending read of weir's, and grpc-core's connection.
    assert result.python_weir > 0 and result.c_heap > 0
    assert len(result.top) == 5
    assert any("controlplane/xds/" in line for line, _, _ in result.top)
    # then every client took each change, the memory read every second one
    assert [done for done, _, _ in result.timeline] == [2, 4]
    lines = report(result, protocol="delta" if delta else "SotW")
    assert lines[1].startswith("  Python heap ") and "weir's own modules" in lines[1]
    assert lines[-1].startswith("    after    4 changes: C heap ")
