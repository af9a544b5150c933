"""The API port's limits: light, so a server's configuration can name them without loading
the web server (uvicorn) or the app (FastAPI)."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane import defaults


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """The API port's limits (README, "Limits")."""

    max_connections: int = defaults.API_MAX_CONNECTIONS
    header_timeout_s: float = defaults.API_HEADER_TIMEOUT_S
    """From a connection's opening, or its previous response, to a complete request head."""
    idle_timeout_s: int = 5
    """A keep-alive connection with nothing sent after a response is closed (uvicorn's)."""
    max_header_bytes: int = 16 * 1024
    """Request line and headers; more is refused with 400."""
    body_timeout_s: float = defaults.API_BODY_TIMEOUT_S
    """From a request head to the end of its body."""
