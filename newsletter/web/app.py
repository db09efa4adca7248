"""The ASGI app: `uvicorn newsletter.web.app:app` (what `newsletter serve` runs).

`create_app()` builds a fresh app (tests make one each, so rate-limit memory is per test).
Every router is included unconditionally: a module that fails to import stops the app
instead of starting it without, say, bounce suppression. Errors are answered as JSON under
/api/ and as a translated page elsewhere (a bad signed link says why); anything unexpected
is logged and becomes a plain 500 page without details.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter.core import logs
from newsletter.core.config import get_settings
from newsletter.web import (
    admin,
    admin_sources,
    api,
    archive_pages,
    common,
    docs,
    exports,
    feed_pages,
    learning_pages,
    metrics,
    pages,
    signup,
    webhooks,
)
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


async def bad_link(request: Request, error: common.BadLink) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": str(error)}, status_code=400)
    return common.token_error(request, error.error)


async def unexpected_error(request: Request, error: Exception) -> Response:
    # redacted here too: in text mode this line reaches no formatter of ours
    log.exception("unhandled error on %s %s", request.method, logs.redact(request.url.path))
    if not _wants_json(request):
        try:
            return common.error_page(request, "server_error", 500)
        except Exception:  # the error page itself failed: plain JSON below
            log.exception("error page failed")
    return JSONResponse({"detail": "internal error"}, status_code=500)


def create_app() -> FastAPI:
    settings = get_settings()
    if settings.log_format == "json":  # text stays uvicorn's own
        logs.configure()
    logs.guard_access_log()  # no signed link's token in an access line, in either format
    app = FastAPI(title="AcademicHub", version="1.0",
                  description="Subscribe, preview and manage a daily research digest.",
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.rate_limits = RateLimits(settings.redis_url)
    app.add_middleware(SecurityMiddleware)
    if settings.trusted_proxies:  # outermost: every layer inside sees the real client
        # The client is the right-most X-Forwarded-For hop that is not one of our proxies;
        # a request that does not come from one of them keeps its own peer address.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_exception_handler(common.BadLink, bad_link)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    docs.mount_assets(app)
    for module in (signup, pages, learning_pages, archive_pages, exports, feed_pages, api, docs,
                   webhooks, admin, admin_sources, metrics):
        app.include_router(module.router)
    return app


app = create_app()
