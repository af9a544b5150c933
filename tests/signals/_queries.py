"""The PromQL that ships in deploy/: the Grafana dashboard's queries and the alerting rules, with
the dashboard's template variables replaced so that each is plain PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "weir.json"
ALERTS = DEPLOY / "prometheus" / "weir-alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "weir-alerts.test.yml"

_VARIABLES = {"$service": ".*", "${service}": ".*", "$__rate_interval": "5m"}
_METRIC = re.compile(r"\b(weir_[a-z0-9_]+)")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def dashboard_queries() -> list[str]:
    """Every `expr` of the dashboard (panels, annotations), variables replaced."""
    document = json.loads(DASHBOARD.read_text())
    found = []
    for node in _walk(document):
        expr = node.get("expr")
        if isinstance(expr, str):
            for name, value in _VARIABLES.items():
                expr = expr.replace(name, value)
            found.append(expr)
    return found


def dashboard_variable_queries() -> list[str]:
    """The queries behind the template variables (label_values(metric, label))."""
    document = json.loads(DASHBOARD.read_text())
    return [v["definition"] for v in document["templating"]["list"] if v.get("type") == "query"]


def alert_queries() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def metric_names(query: str) -> set[str]:
    return set(_METRIC.findall(query))
