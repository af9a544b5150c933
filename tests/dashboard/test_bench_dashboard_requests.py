"""bench/dashboard_requests.py runs, small: an open tab makes no request once it streams."""

from __future__ import annotations

import pytest

from bench.dashboard_requests import main

pytestmark = pytest.mark.timeout(60)


def test_the_benchmark_runs_and_an_open_tab_asks_nothing_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--seconds", "3"])

    assert capsys.readouterr().out == "this dashboard: 0.00 requests/s per tab over 3 s\n"
