"""Delivery to one webhook: a bounded queue and one worker POSTing in order, with retries.

A notification is POSTed as JSON until the receiver answers 2xx, or `max_attempts` have been
made. Connection errors, timeouts, 408, 429 and 5xx are retried after an exponential backoff
(with jitter; a numeric Retry-After is honoured up to the longest backoff); other answers are
final. Nothing here ever blocks the caller: `offer` only puts on the queue, and a full queue
drops its oldest notification (logged), so a dead receiver costs memory bounded by the queue.

URLs are logged without their path and query, which often carry a secret (chat webhooks do).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from controlplane.notify._events import Notification

log = logging.getLogger(__name__)

USER_AGENT = "weir-webhook/1"
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    first_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 5.0
    """Per attempt: connect, send and read the answer."""
    queue_size: int = 1000
    """Notifications waiting per webhook; beyond it the oldest is dropped."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")

    def backoff_s(self, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); `jitter` in [0, 1)
        takes up to half of it off, so many weirs retrying the same receiver spread out."""
        full = min(self.max_backoff_s, self.first_backoff_s * 2.0 ** (attempt - 1))
        return full * (1 - jitter / 2)


def display_url(url: str) -> str:
    """scheme://host[:port], with `/…` when a path or query is left out."""
    parts = urlsplit(url)
    hidden = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{hidden}"


def check_webhook_url(url: str) -> str:
    """The URL, if it is one weir can POST to (http or https, with a host); else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    return url


@dataclass(slots=True)
class DeliveryCounts:
    delivered: int = 0
    failed: int = 0
    """Given up on: out of attempts, or answered with a status that is not worth retrying."""
    dropped: int = 0
    """Pushed out of a full queue before any attempt."""
    attempts: int = 0
    last_error: str | None = field(default=None)


class WebhookSender:
    """One receiver: `offer(notification)` from the loop; `run(http)` delivers until
    cancelled, over the caller's client."""

    def __init__(
        self,
        url: str,
        *,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.url = check_webhook_url(url)
        self.name = display_url(url)
        self.policy = policy or RetryPolicy()
        self._jitter = jitter
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=self.policy.queue_size)
        self._busy = False
        self.counts = DeliveryCounts()

    def offer(self, notification: Notification) -> None:
        """Queue the notification; never waits. A full queue gives up its oldest."""
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self._queue.task_done()
            self.counts.dropped += 1
            log.warning(
                "webhook %s is %d notifications behind: dropped %s",
                self.name,
                self._queue.qsize() + 1,
                dropped.id,
            )
        self._queue.put_nowait(notification)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being delivered."""
        return self._queue.empty() and not self._busy

    async def run(self, http: httpx.AsyncClient) -> None:
        while True:
            notification = await self._queue.get()
            self._busy = True
            try:
                await self.deliver(http, notification)
            finally:
                self._busy = False
                self._queue.task_done()

    async def deliver(self, http: httpx.AsyncClient, notification: Notification) -> bool:
        """POST one notification until it is accepted or the attempts run out."""
        content = json.dumps(notification.body, separators=(",", ":")).encode()
        policy = self.policy
        for attempt in range(1, policy.max_attempts + 1):
            self.counts.attempts += 1
            error, retry_after = await self._attempt(http, notification, content, attempt)
            if error is None:
                self.counts.delivered += 1
                self.counts.last_error = None
                return True
            self.counts.last_error = error
            if retry_after is None:
                break
            if attempt < policy.max_attempts:
                delay = max(retry_after, policy.backoff_s(attempt, self._jitter()))
                log.info(
                    "webhook %s: %s attempt %d failed (%s); retrying in %.1fs",
                    self.name, notification.id, attempt, error, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
        self.counts.failed += 1
        log.warning(
            "webhook %s: gave up on %s (%s) after %d attempt(s): %s",
            self.name, notification.id, notification.kind, attempt, error,
        )  # fmt: skip
        return False

    async def _attempt(
        self, http: httpx.AsyncClient, notification: Notification, content: bytes, attempt: int
    ) -> tuple[str | None, float | None]:
        """(None, None) when accepted; else why, and the least wait before a retry (None when
        a retry is pointless)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Weir-Event": notification.kind,
            "X-Weir-Delivery": notification.id,
            "X-Weir-Attempt": str(attempt),
        }
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                response = await http.post(self.url, content=content, headers=headers)
        except TimeoutError:
            return f"no answer within {self.policy.timeout_s:g}s", 0.0
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 0.0
        if response.is_success:
            return None, None
        why = f"answered {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code not in RETRYABLE:
            return why, None
        return why, self._retry_after(response)

    def _retry_after(self, response: httpx.Response) -> float:
        value = response.headers.get("Retry-After", "")
        try:
            seconds = float(value)
        except ValueError:
            return 0.0
        return min(max(seconds, 0.0), self.policy.max_backoff_s)
