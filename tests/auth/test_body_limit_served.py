"""`weir serve --max-request-body` over a real socket: a body over the limit is 413 whether its
length is declared or it comes chunked, and nothing reaches the ledger; a small one passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.integration._weir import WeirServer

LIMIT = 1024
BIG = b'{"name": "web", "domains": [' + b'"a",' * 256 * 1024 + b'"b"]}'  # 1 MiB


def test_oversized_bodies_are_refused_before_they_are_read(tmp_path: Path) -> None:
    options = ("--stats", "off", "--max-request-body", str(LIMIT))
    with WeirServer(tmp_path, options=options) as weir:
        before = len(weir.history())

        declared = weir.api.put("/v1/services/web", content=BIG)

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(BIG), 64 * 1024):
                yield BIG[start : start + 64 * 1024]

        chunked = weir.api.put("/v1/services/web", content=chunks())

        for answer in (declared, chunked):
            assert answer.status_code == 413, answer.text
            assert answer.json()["field"] == "body" and f"{LIMIT} bytes" in answer.json()["error"]
        assert len(weir.history()) == before
        weir.service("web")  # well under the limit
        assert weir.history()[-1]["event"]["kind"] == "service_applied"
