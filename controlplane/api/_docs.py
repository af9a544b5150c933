"""/docs: the API's reference (Swagger UI) from packaged assets.

FastAPI's own /docs page loads its scripts from a CDN, unpinned: blank offline, and foreign code
in the origin whose localStorage holds the dashboard's token. Here the page's scripts and styles
come from the `fastapi-offline` package (Swagger UI 5, which reads OpenAPI 3.1 as FastAPI writes
it), served by weir itself; the page reads the schema at /openapi.json. Neither needs a token:
they hold no data.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS = "/docs"
ASSETS = "/docs/assets"


def mount_docs(app: FastAPI) -> None:
    """The reference page at DOCS, its scripts and styles under ASSETS."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
