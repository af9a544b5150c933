"""open_store: what `--store` takes — a path, sqlite:///relative.db, sqlite:////absolute.db."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import InvalidInput
from controlplane.ledger import PostgresStore, SqliteStore, open_store
from tests.support._postgres import PostgresServer


def opened_file(location: str) -> Path:
    store = open_store(location)
    assert isinstance(store, SqliteStore)
    store.close()
    return Path(store.path).resolve()


def test_sqlite_url_with_three_slashes_is_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert opened_file("sqlite:///rel.db") == tmp_path / "rel.db"
    assert (tmp_path / "rel.db").exists()


def test_sqlite_url_with_four_slashes_is_absolute(tmp_path: Path) -> None:
    target = tmp_path / "abs.db"
    assert opened_file(f"sqlite:///{target}") == target  # sqlite:////tmp/.../abs.db
    assert target.exists()


@pytest.mark.parametrize("relative", [True, False])
def test_a_plain_path_is_a_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    location = "weir.db" if relative else str(tmp_path / "weir.db")
    assert opened_file(location) == tmp_path / "weir.db"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_opens_the_shared_ledger(postgres: PostgresServer, scheme: str) -> None:
    url = postgres.fresh_database().replace("postgresql://", f"{scheme}://")
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.read() == []
    store.close()


@pytest.mark.parametrize("location", ["mysql://db/weir", "sqlite://weir.db", "s3://bucket/weir"])
def test_an_unknown_scheme_is_refused(location: str) -> None:
    with pytest.raises(InvalidInput, match="unknown store") as caught:
        open_store(location)
    assert caught.value.field == "store"
