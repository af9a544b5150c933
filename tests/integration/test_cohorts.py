"""Sticky cohorts against a real Envoy: the hash of a user's header picks the instance, so each
user sees one version, the split follows the weights, and a user on the newer instance at 10%
is still on it at 50%."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves, within_4_sd
from tests.integration._weir import WeirServer
from tests.support import eventually

USERS = 1000
REQUESTS_EACH = 20


def versions_seen(url: str, users: range, each: int) -> dict[int, Counter[str]]:
    """Per user, the bodies (instance ids) of `each` requests carrying its x-user header."""

    address = urlsplit(url)

    def visit(chunk: list[int]) -> dict[int, Counter[str]]:
        # http.client over one kept-alive connection: a third of httpx's time per request
        seen: dict[int, Counter[str]] = {}
        connection = HTTPConnection(address.hostname or "", address.port, timeout=5.0)
        try:
            for user in chunk:
                headers = {"Host": SERVICE, "x-user": f"user-{user}"}
                bodies: Counter[str] = Counter()
                for _ in range(each):
                    connection.request("GET", "/", headers=headers)
                    bodies[connection.getresponse().read().decode()] += 1
                seen[user] = bodies
        finally:
            connection.close()
        return seen

    chunks = [list(users[i::4]) for i in range(4)]
    result: dict[int, Counter[str]] = {}
    with ThreadPoolExecutor(4) as pool:
        for part in pool.map(visit, chunks):
            result.update(part)
    return result


def test_each_user_stays_on_one_version_while_the_weights_grow(
    tmp_path: Path, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        weir.service(SERVICE, cohort={"header": "x-user"})
        register(weir, start_upstream, "old", "new")
        weir.live("old", 90)
        weir.live("new", 10)
        _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
        serves(url, "old", "new")

        # 1,000 users x 20 requests at 10%: every user sees one version
        seen = versions_seen(url, range(USERS), REQUESTS_EACH)
        assert all(len(bodies) == 1 for bodies in seen.values()), [
            (u, b) for u, b in seen.items() if len(b) > 1
        ][:5]
        on_new = {user for user, bodies in seen.items() if "new" in bodies}
        assert within_4_sd(len(on_new), USERS, 0.10), len(on_new)

        # The weights grow to 50%: every user who was on the new version still is
        weir.live("new", 90)

        def grown() -> None:
            now = versions_seen(url, range(USERS), 1)
            assert within_4_sd(sum("new" in b for b in now.values()), USERS, 0.5)

        eventually(grown, timeout=15, interval=0.5)
        now = versions_seen(url, range(USERS), 2)
        assert all(len(bodies) == 1 for bodies in now.values())
        assert all("new" in now[user] for user in on_new)
        assert within_4_sd(sum("new" in b for b in now.values()), USERS, 0.5)
