"""Notifications: webhooks told of rollouts, verdicts, rollbacks and the budget freeze.

`Notifier` hears of every ledger append through the controller's subscription and reads the
evaluator's budget; each `WebhookSender` delivers to one URL from its own queue, retrying with
backoff, so a slow or failing receiver never holds up a change, a rollback or another receiver.
"""

from controlplane.notify._delivery import (
    DeliveryCounts,
    RetryPolicy,
    WebhookSender,
    check_webhook_url,
    display_url,
)
from controlplane.notify._events import (
    EVENT_KINDS,
    Notification,
    budget_notification,
    notification_of,
    notifications_of,
)
from controlplane.notify._notifier import Notifier

__all__ = [
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
