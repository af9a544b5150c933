"""1,000 reconnect cycles leave weir as they found it: its memory back within 5% of the value
after a warm-up, and no stale proxy in GET /v1/proxies (issue 7, part 2).

Simulated ADS clients (bench._ads_client, in a process of their own) connect, sync clusters,
listeners and routes, and disconnect, 16 at a time: SotW and delta, clean and abrupt ends.
One long-lived client stays connected throughout and must still be listed.
"""

from __future__ import annotations

from bench.churn import WITNESS, measure_churn, report


def test_a_thousand_reconnects_leak_neither_memory_nor_proxies() -> None:
    run = measure_churn(1000, concurrency=16, warmup=200)

    assert run.proxies_after == [WITNESS]
    assert run.streams_closed == 1200  # every churned stream, warm-up included, was closed
    assert run.end_rss <= run.start_rss * 1.05, "\n".join(report(run, warmup=200))
    assert run.peak_rss >= run.end_rss
