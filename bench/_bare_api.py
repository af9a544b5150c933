"""The least an HTTP API on weir's stack can be: the latency baseline of bench.whole_mesh.

FastAPI on uvicorn with uvloop, as `weir serve` runs its API, answering GET /healthz with a
small JSON body and nothing else: no ledger, no xDS, no evaluator on its loop. Probed in the
same window as weir's API, from the same client, it says how much of a tail latency is the
machine's (other processes, the scheduler) rather than weir's.

    python -m bench._bare_api PORT      # listens on 127.0.0.1:PORT until killed
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )
