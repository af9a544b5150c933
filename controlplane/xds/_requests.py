"""Closing a stream's request iterator when the stream ends.

grpc.aio hands a streaming handler its requests through an async generator
(`_MessageReceiver._async_message_receiver`) that is suspended at `yield message` between
reads. When the handler ends before the client's requests do -- a refusal, an abort, any
stream that does not read to the end -- that generator stays suspended and keeps the last
request it yielded for the life of the process (seen with grpcio 1.85: refused streams kept
their parsed first requests after the client left and the server stopped). An unknown client
could grow weir's memory by up to 4 MiB per stream it opened and closed. Closing the generator
lets that request go with its stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any


async def close_requests(requests: AsyncIterator[Any]) -> None:
    """Close the async generator behind `requests`, if it has one and nothing is reading it."""
    generator = requests.__aiter__()
    aclose = getattr(generator, "aclose", None)
    if aclose is None:
        return
    with contextlib.suppress(Exception):  # running elsewhere, or closed already: nothing held
        await aclose()
