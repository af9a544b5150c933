"""The stats tests' mesh: a control plane in this process, a real Envoy, real upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import StartEnvoy
from tests.stats._mesh import StatsMesh, stats_mesh


@pytest.fixture
async def mesh(tmp_path: Path, start_envoy: StartEnvoy) -> AsyncIterator[StatsMesh]:
    async with stats_mesh(tmp_path, start_envoy) as given:
        yield given
