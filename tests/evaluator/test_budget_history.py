"""The error budget's history, kept in the ledger's store (SQLite and PostgreSQL alike): bucketed,
compacted, fenced, and read back by a restarted evaluator with the figures it had before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.evaluator._series import AnsweredSeries
from controlplane.ledger import (
    Bucket,
    BudgetStore,
    Fenced,
    PostgresStore,
    SqliteStore,
    Store,
    budgets_of,
)
from controlplane.model import Activation, Instance, ServiceSpec, Slo
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge
from tests.support._postgres import PostgresServer

DAY = 86400


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        given: Store = SqliteStore(tmp_path / "weir.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        given = PostgresStore(server.fresh_database())
    yield given
    given.close()


@pytest.fixture
def budgets(store: Store) -> Iterator[BudgetStore]:
    opened = budgets_of(store)
    assert opened is not None
    yield opened
    opened.close()


def test_a_series_hands_out_each_bucket_until_it_is_saved_as_it_stands() -> None:
    series = AnsweredSeries()
    series.add(600.0, 10, 1)
    series.add(630.0, 5, 0)
    assert series.unsaved() == [Bucket(600, 60, 15, 1)]

    series.saved(series.unsaved(), now=640.0)
    assert series.unsaved() == []
    series.add(650.0, 1, 1)  # the open minute grows: saved again
    [grown] = series.unsaved()
    series.add(700.0, 3, 0)  # meanwhile the next minute began
    series.saved([grown], now=700.0)  # the closed minute, saved whole, is let go

    assert series.unsaved() == [Bucket(660, 60, 3, 0)]
    assert series.totals == (19, 2)


def test_what_is_saved_reads_back_and_a_bucket_written_again_replaces_itself(
    budgets: BudgetStore,
) -> None:
    budgets.save({"web": [Bucket(600, 60, 15, 1), Bucket(660, 60, 3, 0)]})
    budgets.save({"web": [Bucket(660, 60, 9, 2)], "api": [Bucket(600, 60, 1, 0)]})

    assert budgets.load(since=0) == {
        "api": [Bucket(600, 60, 1, 0)],
        "web": [Bucket(600, 60, 15, 1), Bucket(660, 60, 9, 2)],
    }
    assert budgets.load(since=660) == {"web": [Bucket(660, 60, 9, 2)]}


def test_compaction_folds_old_minutes_into_hours_and_drops_what_left_the_window(
    budgets: BudgetStore,
) -> None:
    now = 40 * DAY
    minutes = [Bucket(now - 3 * DAY + 60 * m, 60, 10, 1) for m in range(180)]  # 3 hours
    recent = [Bucket(now - 600, 60, 7, 0)]
    ancient = [Bucket(now - 35 * DAY, 3600, 100, 100)]  # outside a 30-day window
    budgets.save({"web": [*ancient, *minutes, *recent], "api": ancient})

    budgets.compact(now, {"web": 30 * DAY, "api": 40 * DAY})

    stored = budgets.load(since=0)
    assert (
        stored["web"]
        == [Bucket(now - 3 * DAY + 3600 * h, 3600, 600, 60) for h in range(3)] + recent
    )
    assert stored["api"] == ancient  # its window is longer


def test_a_write_from_a_term_that_is_over_is_fenced_and_writes_nothing(
    postgres: PostgresServer,
) -> None:
    store = PostgresStore(postgres.fresh_database())
    budgets = budgets_of(store)
    assert budgets is not None
    with psycopg.connect(store.url, autocommit=True) as db:
        db.execute("UPDATE weir_leader SET term = 3")

    budgets.save({"web": [Bucket(600, 60, 1, 0)]}, term=3)
    with pytest.raises(Fenced, match="term 2 is over"):
        budgets.save({"web": [Bucket(600, 60, 99, 99)]}, term=2)

    assert budgets.load(since=0) == {"web": [Bucket(600, 60, 1, 0)]}
    budgets.close()
    store.close()


def evaluator_on(store: Store, budgets: BudgetStore, source: ScriptedSource) -> Evaluator:
    """An evaluator whose clock is the source's."""
    return Evaluator(
        Controller(store),
        source,
        judge=rate_judge,
        extra_failures=extra_failures,
        clock=lambda: source.at,
        wall_clock=lambda: source.at,
        budgets=budgets,
    )


async def test_a_new_evaluator_on_the_same_store_has_the_figures_the_last_one_had(
    store: Store, budgets: BudgetStore
) -> None:
    controller = Controller(store)
    spec = ServiceSpec(name="web", slo=Slo(success_rate=99, window=DAY))
    controller.apply_service(spec, actor="ops")
    instance = Instance(id="old", service="web", version="v1", address="10.0.0.1:80")
    controller.add_instance(instance, actor="ops")
    controller.change("old", Activation.live(1), actor="ops")
    source = ScriptedSource()
    first = evaluator_on(store, budgets, source)
    await first.restore_budgets()

    # Given two hours of traffic, 1% failing, judged and saved as the leader does each second
    for _ in range(2 * 3600 // 10):
        source.serve("web--old", 100, 1)
        await first.step()  # one second on: each scrape is a second after the last
        source.at += 9
        await first.save_budgets()
    before = first.budget("web")
    assert before.requests == pytest.approx(71_900, rel=0.01)

    # When another evaluator (a restart, a new leader) reads the history from the store
    second = evaluator_on(store, budgets, source)
    await second.restore_budgets()
    after = second.budget("web")

    # Then its figures are the first one's, to within a bucket (a minute: 600 requests)
    assert abs(after.requests - before.requests) <= 600
    assert abs(after.errors - before.errors) <= 6
    assert after.remaining == pytest.approx(before.remaining, abs=0.01)
    for was, now in zip(before.burn_rates, after.burn_rates, strict=True):
        assert now.long == pytest.approx(was.long, rel=0.1)
