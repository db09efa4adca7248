"""GET /api/docs: Swagger UI for the JSON API, served from this app, never from a CDN.

The assets (swagger-ui-bundle.js, swagger-ui.css) come from the `fastapi-offline` package,
which ships a current Swagger UI (5.x: FastAPI writes OpenAPI 3.1, which Swagger UI 4 cannot
show); the page and its start-up script (static/docs.js) are ours, so the page runs under
the site's own CSP: scripts and styles from 'self' only, nothing inline.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from newsletter.web.common import templates

ASSETS = Path(str(resources.files("fastapi_offline").joinpath("static")))
ASSETS_PATH = "/api/docs/assets"
router = APIRouter()


def mount_assets(app) -> None:
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")


@router.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
def swagger_ui(request: Request) -> Response:
    return templates.TemplateResponse(request, "docs.html", {
        "title": f"{request.app.title} · API", "assets": ASSETS_PATH})
