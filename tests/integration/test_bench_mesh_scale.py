"""The mesh-scale benchmark runs end to end at a tiny size (a smoke test, not a measurement)."""

from __future__ import annotations

from bench.mesh_scale import GOAL_DELTA_BYTES, measure_mesh_scale, report


def test_mesh_scale_builds_and_counts_the_bytes_of_one_change() -> None:
    result = measure_mesh_scale(services=4, instances=3, runs=2, streams=3)

    assert (result.clusters, len(result.build), len(result.rebuild)) == (12, 2, 2)
    assert all(t.wall > 0 for t in [*result.build, *result.rebuild])
    # The server sends a delta client what its session computes: one virtual host
    assert len(result.delta_grpc) == 1
    assert result.delta_grpc == result.delta_session
    assert 0 < sum(result.delta_grpc) <= GOAL_DELTA_BYTES
    # and less than the whole route configuration, which SotW still sends
    assert sum(result.baseline) > sum(result.delta_grpc)
    assert sum(result.sotw_grpc) > sum(result.delta_grpc)
    # every stream of both protocols took the change, sharing the view's work
    assert set(result.stream_cpu) == set(result.alone_cpu) == {"delta", "sotw"}
    assert all(cpu > 0 for cpu in [*result.stream_cpu.values(), *result.alone_cpu.values()])
    assert set(result.stream_bytes) == {"delta", "sotw"}
    assert all(size > 0 for size in result.stream_bytes.values())
    lines = report(result)
    assert lines[0] == "mesh: 4 services x 3 instances (12 clusters, 4 virtual hosts)"
    assert any(line.startswith("  ratio to the baseline: ") for line in lines)
    assert any(line.startswith("  delta: ") and "a stream, alone" in line for line in lines)
