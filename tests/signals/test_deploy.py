"""The Grafana dashboard and the alerting rules in deploy/ are valid, and ask only for what
weir exports: promtool checks the rules (and their unit tests) and every dashboard query."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.signals._queries import (
    ALERT_TESTS,
    ALERTS,
    DASHBOARD,
    dashboard_queries,
    dashboard_variable_queries,
)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"  # Debian's prometheus package


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_promtool_accepts_the_alerting_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    # budget burn over both windows, a rollback, a proxy out of sync, a frozen budget
    result = promtool("test", "rules", ALERT_TESTS.name, cwd=ALERT_TESTS.parent)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_cover_budget_burn_rollbacks_and_proxies_out_of_sync() -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}

    assert {"WeirErrorBudgetFastBurn", "WeirRollback", "WeirProxyOutOfSync"} <= names


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    # promtool parses PromQL in rule files: each query as a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"weir:dashboard:{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))

    result = promtool("check", "rules", str(path))

    assert len(queries) >= 20
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_grafana_json_with_a_service_variable() -> None:
    document = json.loads(DASHBOARD.read_text())

    assert document["uid"] == "weir" and document["panels"]
    assert all("gridPos" in panel for panel in document["panels"])
    assert dashboard_variable_queries() == ["label_values(weir_slo_success_ratio, service)"]
