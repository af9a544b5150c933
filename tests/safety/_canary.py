"""Given weir in this process judging from pushed stats, a real Envoy under steady load, and
service `web` with a stable instance and a canary (both live at weight 100), an attacker on
the xDS port sends metrics-sink messages of its own.

    web ─ web--stable   live, always 200
        └ web--canary   live, failing `canary_error_rate` of its requests (seeded)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from controlplane.bootstrap import BootstrapTls, render_bootstrap
from controlplane.harness import SteadyLoad
from controlplane.ledger import SqliteStore
from controlplane.model import (
    Activation,
    ActivationState,
    ArmEvidence,
    Instance,
    Outcome,
    ProposedEntry,
    ServiceSpec,
    Slo,
    Verdict,
    VerdictRecorded,
)
from controlplane.resources import CLUSTER_TYPE
from controlplane.serve import ControlPlane, ServeConfig
from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._push import METHOD_PATH
from tests.conftest import StartEnvoy
from tests.stats._flushes import latency_family, message, requests_family
from tests.support import StaticTokens, Upstream, eventually, free_port, http_get
from tests.tls._certs import Pki

CANARY = "web--canary"
STABLE = "web--stable"
RPS = 150


@dataclass
class CanaryMesh:
    plane: ControlPlane
    xds: str
    load: SteadyLoad
    pki: Pki | None
    started: float = 0.0
    """When the canary went live (time.monotonic())."""

    def canary_live(self) -> None:
        self.plane.controller.change("canary", Activation.live(100), actor="test")
        self.started = time.monotonic()

    def state(self, instance_id: str) -> ActivationState:
        return self.plane.controller.state.instances[instance_id].state

    def outcome(self, instance_id: str) -> Outcome | None:
        """The verdict recorded on the instance's current change, if any."""
        state = self.plane.controller.state
        verdict = state.verdicts.get(state.instances[instance_id].since_seq)
        return verdict.outcome if verdict is not None else None

    def verdicts(self, instance_id: str) -> list[Outcome]:
        return [
            e.event.verdict.outcome
            for e in self.plane.controller.history("web")
            if e.event.kind == "verdict_recorded" and e.event.instance_id == instance_id
        ]

    def budget_frozen(self) -> bool:
        return self.plane.controller.budget_refusal("web") is not None

    async def wait(self, check: Any, timeout: float) -> float | None:
        """Seconds since the canary went live when `check()` first held; None if it did not
        within `timeout` seconds."""
        try:
            await asyncio.to_thread(eventually, check, timeout=timeout, interval=0.1)
        except AssertionError:
            return None
        return time.monotonic() - self.started


@asynccontextmanager
async def canary_mesh(
    tmp_path: Path,
    start_envoy: StartEnvoy,
    *,
    canary_error_rate: float,
    mtls: bool = False,
) -> AsyncIterator[CanaryMesh]:
    async with AsyncExitStack() as stack:
        pki = Pki(tmp_path / "pki") if mtls else None
        credentials = None
        if pki is not None:
            server = pki.server()
            credentials = grpc.ssl_server_credentials(
                [(server.key.read_bytes(), server.cert.read_bytes())],
                root_certificates=pki.ca.read_bytes(),
                require_client_auth=True,
            )
        plane = ControlPlane(
            SqliteStore(tmp_path / "weir.db"),
            ServeConfig.on_free_ports(),
            auth=StaticTokens(),
            xds_credentials=credentials,
        )
        listening = await plane.start()
        stack.push_async_callback(plane.stop, 0)
        stable = stack.enter_context(Upstream("stable"))
        canary = stack.enter_context(
            Upstream("canary", error_rate=canary_error_rate, error_status=500, seed=11)
        )
        controller = plane.controller
        # A 95% SLO: a healthy canary passes within seconds at this traffic.
        controller.apply_service(ServiceSpec(name="web", slo=Slo(success_rate=95)), actor="test")
        for instance_id, upstream in (("stable", stable), ("canary", canary)):
            controller.add_instance(
                Instance(
                    id=instance_id, service="web", version=instance_id, address=upstream.address
                ),
                actor="test",
            )
        went_live = controller.change("stable", Activation.live(100), actor="test")
        # Judged long ago: the stable instance is the baseline here, not a change on trial.
        judged = Verdict(
            outcome=Outcome.PASS, reason="judged before the test", elapsed_s=0,
            candidate=ArmEvidence(requests=0, errors=0),
        )  # fmt: skip
        event = VerdictRecorded(
            change_seq=went_live.seq, instance_id="stable", service="web", verdict=judged
        )
        controller.submit([ProposedEntry(actor="evaluator", event=event)])
        listen = f"127.0.0.1:{free_port()}"
        tls = None
        if pki is not None:
            proxy = pki.proxy("front")
            tls = BootstrapTls(str(proxy.cert), str(proxy.key), str(pki.ca))
        bootstrap = render_bootstrap(
            "front", "test", xds=listening.xds, listen=listen,
            admin=f"127.0.0.1:{free_port()}", tls=tls,
        )  # fmt: skip
        await asyncio.to_thread(start_envoy, bootstrap)
        url = f"http://{listen}/"

        def serves() -> None:
            assert http_get(url, "web", timeout=1.0).status == 200

        await asyncio.to_thread(eventually, serves, timeout=20)
        load = stack.enter_context(SteadyLoad(url, "web", rps=RPS))
        await asyncio.sleep(1.5)  # the stable instance's traffic reaches the sink first
        yield CanaryMesh(plane, listening.xds, load, pki)


class Forger:
    """A client of the xDS port sending metrics-sink messages, with or without an ADS stream
    of its own on the same connection (as node `node_id`), over mTLS with `pki`'s certificate
    for `node_id` when given."""

    def __init__(self, xds: str, node_id: str, *, pki: Pki | None = None) -> None:
        if pki is None:
            self._channel = grpc.aio.insecure_channel(xds)
        else:
            pair = pki.proxy(node_id)
            credentials = grpc.ssl_channel_credentials(
                root_certificates=pki.ca.read_bytes(),
                private_key=pair.key.read_bytes(),
                certificate_chain=pair.cert.read_bytes(),
            )
            self._channel = grpc.aio.secure_channel(xds, credentials)
        self.node_id = node_id
        self._ads: Any = None
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self.refused: grpc.aio.AioRpcError | None = None

    async def hold_ads(self) -> list[str]:
        """Open an ADS stream as `node_id` on this connection; the clusters weir sent it."""
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        first = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
        first.node.id = self.node_id
        queue: asyncio.Queue[Any] = asyncio.Queue()
        queue.put_nowait(first)

        async def requests() -> AsyncIterator[Any]:
            while (request := await queue.get()) is not None:
                yield request

        self._ads = stub.StreamAggregatedResources(requests())
        response = await asyncio.wait_for(self._ads.read(), 10)
        names = [cluster_pb2.Cluster.FromString(r.value).name for r in response.resources]
        queue.put_nowait(
            discovery_pb2.DiscoveryRequest(
                type_url=CLUSTER_TYPE, version_info=response.version_info,
                response_nonce=response.nonce,
            )
        )  # fmt: skip
        return names

    async def push(
        self, flushes: Sequence[metrics_service_pb2.StreamMetricsMessage], *, every_s: float = 1.0
    ) -> None:
        """Send the flushes on one metrics stream, `every_s` apart; note a refusal."""
        call = self._channel.stream_unary(
            METHOD_PATH,
            request_serializer=metrics_service_pb2.StreamMetricsMessage.SerializeToString,
            response_deserializer=metrics_service_pb2.StreamMetricsResponse.FromString,
        )

        async def messages() -> AsyncIterator[metrics_service_pb2.StreamMetricsMessage]:
            for n, flush in enumerate(flushes):
                if n:
                    await asyncio.sleep(every_s)
                yield flush

        try:
            await call(messages(), timeout=60)
        except grpc.aio.AioRpcError as exc:
            self.refused = exc

    async def close(self) -> None:
        if self._ads is not None:
            self._ads.cancel()
        await self._channel.close()


def flushes(
    node_id: str, per_flush: Mapping[str, Mapping[str, int]], count: int, *, timed: bool = True
) -> list[metrics_service_pb2.StreamMetricsMessage]:
    """`count` flushes each claiming `per_flush` ({cluster: {class: n}}), the first naming
    `node_id`; with `timed`, each request also in the 1-5 ms latency slot."""
    out = []
    for n in range(count):
        families = [requests_family(per_flush)]
        if timed:
            slots = {
                cluster: (0, 0, sum(max(0, v) for v in classes.values()))
                for cluster, classes in per_flush.items()
            }
            families.append(latency_family(slots))
        out.append(message(families, node_id=node_id if n == 0 else None))
    return out
