"""A throwaway PKI per test: a CA, weir's certificate, and client certificates on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tls._certs import Pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")
