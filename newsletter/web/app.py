"""The ASGI app: `uvicorn newsletter.web.app:app` (what `newsletter serve` runs).

`create_app()` builds a fresh app (tests make one each, so rate-limit memory is per test).
Errors are answered as JSON under /api/ and as a translated page elsewhere; anything
unexpected is logged and becomes a plain 500 page without details.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter.core.config import get_settings
from newsletter.web import api, common, learning_pages, pages
from newsletter.web.security import RateLimits, SecurityMiddleware

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
ERROR_KEYS = {400: "bad_request", 403: "csrf_failed", 404: "not_found", 429: "rate_limited"}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/", "/healthz"))


def _error_page(request: Request, status: int) -> Response:
    return common.error_page(request, ERROR_KEYS.get(status, "bad_request"), status)


async def http_error(request: Request, error: StarletteHTTPException) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))
    return _error_page(request, error.status_code)


async def validation_error(request: Request, error: RequestValidationError) -> Response:
    if _wants_json(request):
        detail = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in error.errors()]
        return JSONResponse({"detail": detail}, status_code=422)
    return _error_page(request, 422)


async def unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if not _wants_json(request):
        try:
            return common.error_page(request, "server_error", 500)
        except Exception:  # the error page itself failed: plain JSON below
            log.exception("error page failed")
    return JSONResponse({"detail": "internal error"}, status_code=500)


def _include_optional(app: FastAPI, module: str) -> None:
    """Routers written alongside (webhooks, admin): included when present."""
    try:
        router = importlib.import_module(module).router
    except ImportError as error:
        if error.name != module:  # the module exists but is broken: say so
            log.warning("%s not loaded: %s", module, error)
        return
    app.include_router(router)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="AcademicHub", version="1.0",
                  description="Subscribe, preview and manage a daily research digest.",
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.rate_limits = RateLimits(settings.redis_url)
    app.add_middleware(SecurityMiddleware)
    if settings.trusted_proxies:  # outermost: every layer inside sees the real client
        # The client is the right-most X-Forwarded-For hop that is not one of our proxies;
        # a request that does not come from one of them keeps its own peer address.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(learning_pages.router)
    app.include_router(api.router)
    _include_optional(app, "newsletter.web.webhooks")
    _include_optional(app, "newsletter.web.admin")
    _include_optional(app, "newsletter.web.admin_sources")
    return app


app = create_app()
