"""Integration fixtures: a `weir serve` process with one service, `web`, applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._mesh import SERVICE
from tests.integration._weir import WeirServer


@pytest.fixture
def weir(tmp_path: Path) -> Iterator[WeirServer]:
    with WeirServer(tmp_path) as server:
        server.service(SERVICE)
        yield server
