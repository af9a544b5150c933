"""Serving the dashboard: the page at `/`, its script and style sheet under `/dashboard/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS = Path(__file__).parent / "static"

_HEADERS = {
    # The page loads only what this server serves, and talks only to it.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Revalidated on every load (ETag / Last-Modified), so an upgraded server is seen at once.
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


def mount_dashboard(app: FastAPI) -> None:
    """Add the page at `/` and its assets at `/dashboard/` to `app` (not in the API schema)."""
    index = ASSETS / "index.html"

    async def page(request: Request) -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=_HEADERS)

    app.add_route("/", page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/dashboard", _Assets(directory=ASSETS), name="dashboard")
