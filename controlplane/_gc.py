"""The cyclic garbage collector's pace: process-wide, so chosen only where a process starts
(`controlplane.serve.serve`, and the benchmarks that run weir's servers in-process as
`weir serve` runs them), never by a server object as it starts.

A change pushed to thousands of xDS streams allocates many short-lived container objects
(grpc's operations, responses, futures); at Python's default, every 700 of them start a young
collection that also walks everything promoted since the last one. Collecting less often
costs little memory: what waits longer for collection is short-lived. bench/README.md has the
figures ("Garbage collection").
"""

from __future__ import annotations

import gc

PYTHON_YOUNG_THRESHOLD = 700
"""Python's own default: allocations between two young collections."""
YOUNG_GC_THRESHOLD = 10_000
"""What `weir serve` sets instead."""


def fewer_young_collections(threshold: int = YOUNG_GC_THRESHOLD) -> None:
    """Start a young collection every `threshold` allocations rather than Python's 700, unless
    the process already chose a threshold of its own."""
    current = gc.get_threshold()
    if current[0] == PYTHON_YOUNG_THRESHOLD:
        gc.set_threshold(threshold, *current[1:])
