"""Starting and stopping what the harness runs beside the caller, each in one place: a child
process asked to stop and killed if it does not, and an HTTP server on a thread of its own.

Every wait is bounded, so a process or server that hangs costs a test its timeout, never the
whole run.
"""

from __future__ import annotations

import signal
import socketserver
import subprocess
import threading
from typing import Any

STOP_TIMEOUT_S = 10.0
"""How long a process has to exit after the signal, and again after SIGKILL."""
POLL_INTERVAL_S = 0.05
"""How often a server thread checks whether it was told to stop: its stop waits this long."""
JOIN_TIMEOUT_S = 5.0


def stop_process(
    process: subprocess.Popen[Any],
    signum: signal.Signals = signal.SIGTERM,
    timeout_s: float = STOP_TIMEOUT_S,
) -> int:
    """Send `signum` to a running process and wait up to `timeout_s` for it to exit; if it has
    not, SIGKILL it and wait again, as long. Its exit status (negative: the signal that ended
    it). A process already gone is only reaped."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=timeout_s)


def serve_in_thread(server: socketserver.BaseServer, name: str | None = None) -> threading.Thread:
    """Run `server` on a daemon thread of its own, started; `stop_serving` ends it."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": POLL_INTERVAL_S},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer, thread: threading.Thread | None) -> None:
    """End a server `serve_in_thread` runs: it takes no more requests, its socket is closed and
    its thread joined (for at most JOIN_TIMEOUT_S: a handler still busy is a daemon thread)."""
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=JOIN_TIMEOUT_S)
