"""Replicas on one shared PostgreSQL ledger: each test gets a fresh database on the session's
real server (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support._postgres import PostgresServer


@pytest.fixture
def ledger_url(postgres: PostgresServer) -> str:
    return postgres.fresh_database()
