"""The mesh-scale benchmark runs end to end at a tiny size (a smoke test, not a measurement)."""

from __future__ import annotations

from bench.mesh_scale import GOAL_DELTA_BYTES, measure_mesh_scale, report


def test_mesh_scale_builds_and_counts_the_bytes_of_one_change() -> None:
    result = measure_mesh_scale(services=4, instances=3, runs=2)

    assert (result.clusters, len(result.build), len(result.rebuild)) == (12, 2, 2)
    assert all(t.wall > 0 for t in [*result.build, *result.rebuild])
    # The server sends a delta client what its session computes: one virtual host
    assert len(result.delta_grpc) == 1
    assert result.delta_grpc == result.delta_session
    assert 0 < sum(result.delta_grpc) <= GOAL_DELTA_BYTES
    # and less than the whole route configuration, which SotW still sends
    assert sum(result.baseline) > sum(result.delta_grpc)
    assert sum(result.sotw_grpc) > sum(result.delta_grpc)
    lines = report(result)
    assert lines[0] == "mesh: 4 services x 3 instances (12 clusters, 4 virtual hosts)"
    assert any(line.startswith("  ratio to the baseline: ") for line in lines)
