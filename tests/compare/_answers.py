"""What the compared instances of the tests answer: JSON like an old version's, with a
timestamp and an id that differ on every answer, and a price a candidate may change."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable

BIG = 32 * 1024 * 1024
"""The body a candidate answers on /big (the old version's is small there)."""


def answers(*, changed_price_every: int = 0) -> Callable[[str, str], tuple[str, bytes]]:
    """An Upstream's `answer`: price 10, or 12 on every n-th answer with `changed_price_every`
    n (such a candidate also answers /big with BIG bytes)."""
    counter = itertools.count(1)

    def answer(method: str, path: str) -> tuple[str, bytes]:
        if path.startswith("/big"):
            pad = b"x" * BIG if changed_price_every else b""
            return "application/json", b'{"pad": "' + pad + b'"}'
        n = next(counter)
        price = 12 if changed_price_every and n % changed_price_every == 0 else 10
        body = {"price": price, "at": time.time_ns(), "id": str(uuid.uuid4()), "path": path}
        return "application/json", json.dumps(body).encode()

    return answer
