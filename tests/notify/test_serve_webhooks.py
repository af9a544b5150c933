"""`weir serve --webhook URL`, run as operators run it, tells a real receiver of a rollout."""

from __future__ import annotations

from pathlib import Path

import controlplane.notify
from controlplane.notify import EVENT_KINDS
from tests.cli._run import invoke
from tests.integration._weir import WeirServer
from tests.notify._receiver import Receiver
from tests.support import eventually


def test_weir_serve_posts_each_rollout_event_to_every_webhook(tmp_path: Path) -> None:
    with Receiver(fail_first=1) as first, Receiver() as second:
        options = ("--stats", "off", "--webhook", first.url, "--webhook", second.url)
        with WeirServer(tmp_path, options=options) as weir:
            # Given service web with v1 live and v2 registered
            weir.service("web")
            weir.instance("web", "v1-a", "127.0.0.1:9001", version="v1")
            weir.instance("web", "v2-a", "127.0.0.1:9002", version="v2")
            weir.live("v1-a", 1)
            # When a canary of v2 starts (no stats: it waits at its first step for a verdict)
            body = {"service": "web", "version": "v2", "steps": [50, 100], "bake": "0s"}
            weir.call("POST", "/v1/rollouts", body, expect=201)

            # Then both receivers hear of its start and its first step, in that order
            def told() -> None:
                for receiver in (first, second):
                    assert receiver.events() == ["rollout.started", "rollout.step"]

            eventually(told, timeout=10)
    started = second.accepted()[0]
    assert started["rollout"] == {"id": "web/1", "version": "v2", "strategy": "canary"}
    assert started["candidates"] == ["v2-a"] and started["replaced"] == ["v1-a"]
    assert len(first.attempts()) == 4  # each retried once on the first receiver


def test_a_webhook_that_is_not_an_http_url_is_refused_before_anything_starts() -> None:
    result = invoke("serve", "--webhook", "hooks.example.com/x")

    assert result.exit_code == 2
    assert "--webhook" in result.output and "not an http:// or https:// URL" in result.output


def test_the_public_names_are_pinned() -> None:
    assert sorted(controlplane.notify.__all__) == sorted(
        [
            "EVENT_KINDS",
            "DeliveryCounts",
            "Notification",
            "Notifier",
            "RetryPolicy",
            "WebhookSender",
            "budget_notification",
            "check_webhook_url",
            "display_url",
            "notification_of",
            "notifications_of",
        ]
    )
    assert "budget.frozen" in EVENT_KINDS and "verdict.fail" in EVENT_KINDS
