"""Handing memory that bursts of large requests left behind back to the system.

Messages of a few MB (an xDS request, a metrics flush, an API body) are read into buffers that
gRPC, protobuf and Python allocate from several malloc arenas at once; once freed, glibc keeps
most of those pages, interleaved with small live blocks, and RSS stays where the burst left
it, all of it freed. `malloc_trim(0)` returns every free page; it is slow only right after such
a burst and cheap otherwise, so weir calls it every few seconds from a thread (figures:
bench/README.md, "Figures behind the code"). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_EVERY_S = 5.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


async def trim_forever(every_s: float = TRIM_EVERY_S) -> None:
    """Return free heap pages to the system every `every_s` seconds, until cancelled."""
    trim = _malloc_trim()
    if trim is None:
        log.info("no malloc_trim here: memory freed after bursts stays with the process")
        return
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(trim, 0)
