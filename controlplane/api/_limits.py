"""A bound on request bodies: 413 before anything parses one, declared length or not.

A declared Content-Length over the limit is refused at once, unread. Otherwise the body is
read up to the limit (a chunked body has no declared length) and handed to the app only if it
stayed under it, so no endpoint ever sees, or spends memory and CPU decoding, more. A body that
takes longer than `timeout_s` to arrive is refused with 408 (a client trickling it in would
otherwise hold a connection and a task for as long as it liked).
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane import defaults
from controlplane.api._errors import error_response

DEFAULT_MAX_BODY = defaults.MAX_REQUEST_BODY


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BODY,
        timeout_s: float = defaults.API_BODY_TIMEOUT_S,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"the request body limit must be at least 1 byte, not {max_bytes}")
        self._app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client left before sending it all: nobody to answer
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        await self._too_large(scope, receive, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            response = error_response(
                408, f"the request body took longer than {self.timeout_s:g}s", field="body"
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        await self._app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"the request body is larger than this server's limit of {self.max_bytes} bytes",
            field="body",
        )
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read so far as one message, then whatever the client sends next (its
    disconnect), as the app would have received them."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
