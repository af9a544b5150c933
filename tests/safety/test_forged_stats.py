"""Issue 15, attack 1: anyone who reaches the xDS port forging the evaluator's evidence.

Each test runs the attack against weir judging a real Envoy's pushed stats, prints what
happened (the figure the issue's closing note reports) and then asserts that forged stats at
worst leave a verdict inconclusive: never pass, fail, hide or freeze.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from controlplane.model import ActivationState, Outcome
from tests.conftest import StartEnvoy
from tests.safety._canary import CANARY, STABLE, CanaryMesh, Forger, canary_mesh, flushes

pytestmark = pytest.mark.timeout(120)


def seconds(took: float | None) -> str:
    return f"{took:.1f}s" if took is not None else "more than 60s"


def refusal(forger: Forger) -> str:
    return forger.refused.code().name if forger.refused is not None else "no"


def disputes(mesh: CanaryMesh) -> dict[str, str]:
    # getattr: the same tests run against the code before the fix, for its figures
    return dict(getattr(mesh.plane.metrics_sink, "disputes", dict)())


def decided(mesh: CanaryMesh) -> None:
    assert mesh.outcome("canary") in (Outcome.PASS, Outcome.FAIL) or mesh.verdicts("canary")


async def test_a_client_without_an_ads_stream_cannot_fail_a_healthy_canary(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    async with canary_mesh(tmp_path, start_envoy, canary_error_rate=0.0) as mesh:
        # When a client of its own claims 5xx for the canary every second
        forger = Forger(mesh.xds, "intruder")
        attack = asyncio.create_task(
            forger.push(flushes("intruder", {CANARY: {"5": 500}}, 20), every_s=0.5)
        )
        mesh.canary_live()
        took = await mesh.wait(lambda: decided(mesh), timeout=60)
        await attack
        await forger.close()
        print(
            f"\nhealthy canary: {mesh.verdicts('canary')} after {seconds(took)}, "
            f"now {mesh.state('canary').value}; forger refused: {refusal(forger)}"
        )

        # Then its stream is refused and the canary passes on the real traffic
        assert forger.refused is not None
        assert forger.refused.code() == grpc.StatusCode.UNAUTHENTICATED
        assert mesh.verdicts("canary") == [Outcome.PASS]
        assert mesh.state("canary") is ActivationState.LIVE


async def test_forged_successes_cannot_pass_a_failing_canary(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    async with canary_mesh(tmp_path, start_envoy, canary_error_rate=0.5) as mesh:
        # When a client of its own claims 5,000 successes of the canary, five times a second
        forger = Forger(mesh.xds, "intruder")
        attack = asyncio.create_task(
            forger.push(flushes("intruder", {CANARY: {"2": 5000}}, 20), every_s=0.2)
        )
        await asyncio.sleep(0.1)
        mesh.canary_live()
        took = await mesh.wait(lambda: decided(mesh), timeout=60)
        await attack
        await forger.close()
        print(
            f"\n50%-failing canary: {mesh.verdicts('canary')} after {seconds(took)}, "
            f"now {mesh.state('canary').value}; forger refused: {refusal(forger)}"
        )

        assert forger.refused is not None
        assert forger.refused.code() == grpc.StatusCode.UNAUTHENTICATED
        assert mesh.verdicts("canary") == [Outcome.FAIL]
        assert mesh.state("canary") is ActivationState.INACTIVE  # rolled back


async def test_a_negative_count_cannot_hide_errors(tmp_path: Path, start_envoy: StartEnvoy) -> None:
    async with canary_mesh(tmp_path, start_envoy, canary_error_rate=0.5) as mesh:
        # Given a forger that holds an ADS stream of its own, so its stats stream is admitted
        forger = Forger(mesh.xds, "impostor")
        assert CANARY in await forger.hold_ads()
        # When it claims -200 5xx for the failing canary five times a second
        attack = asyncio.create_task(
            forger.push(flushes("impostor", {CANARY: {"5": -200}}, 30), every_s=0.2)
        )
        await asyncio.sleep(0.1)
        mesh.canary_live()
        took = await mesh.wait(lambda: decided(mesh), timeout=60)
        errors = mesh.plane.metrics_sink.readings()
        await attack
        await forger.close()
        print(
            f"\n50%-failing canary with -200 5xx claimed: {mesh.verdicts('canary')} "
            f"after {seconds(took)}, now {mesh.state('canary').value}; forger refused: "
            f"{refusal(forger)}"
        )

        # Then the negative count ends the forger's stream, and nothing of it is counted
        assert forger.refused is not None
        assert forger.refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "never below zero" in str(forger.refused.details())
        assert all(r.clusters.get(CANARY) is None or r.clusters[CANARY].errors >= 0 for r in errors)
        assert mesh.verdicts("canary") == [Outcome.FAIL]
        assert mesh.state("canary") is ActivationState.INACTIVE


@pytest.mark.parametrize("with_ads", [False, True], ids=["no-ads", "own-ads-stream"])
async def test_forged_errors_on_the_stable_instance_cannot_freeze_the_budget(
    tmp_path: Path, start_envoy: StartEnvoy, with_ads: bool
) -> None:
    async with canary_mesh(tmp_path, start_envoy, canary_error_rate=0.0) as mesh:
        mesh.canary_live()
        forger = Forger(mesh.xds, "impostor")
        if with_ads:
            await forger.hold_ads()
        # 100,000 forged 5xx for the stable instance, over 4 flushes (within the rate bound)
        await forger.push(flushes("impostor", {STABLE: {"5": 25_000}}, 4))
        frozen_at = None
        for tick in range(60):
            if mesh.budget_frozen():
                frozen_at = tick / 10
                break
            await asyncio.sleep(0.1)
        print(
            f"\n100,000 forged 5xx on the stable instance: budget "
            f"{'frozen' if frozen_at is not None else 'not frozen'}; forger refused: "
            f"{refusal(forger)}; disputed: {sorted(disputes(mesh))}"
        )
        await forger.close()

        assert frozen_at is None
        if with_ads:
            assert STABLE in disputes(mesh)
        else:
            assert forger.refused is not None
            assert forger.refused.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("mtls", [True, False], ids=["mtls", "plaintext"])
async def test_a_proxy_cannot_outvote_the_fleet_about_a_healthy_canary(
    tmp_path: Path, start_envoy: StartEnvoy, mtls: bool
) -> None:
    async with canary_mesh(tmp_path, start_envoy, canary_error_rate=0.0, mtls=mtls) as mesh:
        mesh.canary_live()
        # Given a proxy of the fleet (over mTLS: with its own certificate) holding an ADS stream
        forger = Forger(mesh.xds, "sidecar-a", pki=mesh.pki)
        assert CANARY in await forger.hold_ads()
        # When it claims 60% 5xx for the canary, at the real traffic's pace, for 8 seconds
        await forger.push(flushes("sidecar-a", {CANARY: {"5": 45, "2": 30}}, 8))
        print(
            f"\nhealthy canary against a lying proxy: verdicts {mesh.verdicts('canary')}, "
            f"now {mesh.state('canary').value}; disputed: {disputes(mesh).get(CANARY)}"
        )

        # Then the canary is not failed: the proxies' claims about it are disputed
        assert Outcome.FAIL not in mesh.verdicts("canary")
        assert mesh.state("canary") is ActivationState.LIVE
        assert "sidecar-a" in disputes(mesh)[CANARY]
        assert mesh.plane.evaluator is not None
        [evaluation] = [e for e in mesh.plane.evaluator.evaluations() if e.instance_id == "canary"]
        assert evaluation.verdict is not None
        assert "disputed" in evaluation.verdict.reason
        await forger.close()


async def test_over_mtls_a_stream_cannot_speak_for_another_proxy(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    async with canary_mesh(tmp_path, start_envoy, canary_error_rate=0.0, mtls=True) as mesh:
        mesh.canary_live()
        forger = Forger(mesh.xds, "sidecar-a", pki=mesh.pki)
        await forger.hold_ads()
        # When its stream names sidecar-a first, then the front proxy
        relabelled = flushes("sidecar-a", {CANARY: {"2": 1}}, 3)
        relabelled[1].identifier.node.id = "front"
        await forger.push(relabelled, every_s=0.2)
        # And another stream of its names the front proxy from the start
        impostor = Forger(mesh.xds, "sidecar-a", pki=mesh.pki)
        await impostor.push(flushes("front", {CANARY: {"5": 50}}, 2), every_s=0.2)
        await forger.close()
        await impostor.close()

        assert forger.refused is not None
        assert forger.refused.code() == grpc.StatusCode.PERMISSION_DENIED
        assert impostor.refused is not None
        assert impostor.refused.code() == grpc.StatusCode.PERMISSION_DENIED
