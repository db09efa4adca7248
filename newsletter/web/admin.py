"""The operator's page: GET /admin, per-day delivery figures and a chart, behind ADMIN_TOKEN.

Scripts send the token in a header (`Authorization: Bearer ...` or `X-Admin-Token`); a
browser signs in once through a form (POST /admin/login), which sets a signed, HttpOnly,
SameSite=Strict cookie for 12 hours, bound to the token (a new ADMIN_TOKEN logs everyone
out). The token is never read from the URL (URLs end up in access logs and histories), is
compared in constant time, and wrong ones are limited per client (10 an hour; past that even
the right one waits). Without ADMIN_TOKEN configured the page does not exist (404). The
chart is inline SVG drawn by the template from numbers (no script, no inline style), so it
passes the site's strict CSP.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.core.config import get_settings
from newsletter.locale import i18n
from newsletter.tracking.stats import FIELDS, DayStats, daily_stats, totals
from newsletter.web import security
from newsletter.web.common import FormDep, SessionDep, client_ip, csrf_ok, page_locale, render

router = APIRouter()
COOKIE = "ah_admin"
SESSION_SECONDS = 12 * 3600
SERIES = (("sent", "#2563eb"), ("skipped", "#6b7280"), ("failed", "#dc2626"),
          ("opened", "#15803d"), ("clicked", "#b45309"))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _given(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    return request.headers.get("x-admin-token") or (
        bearer[7:] if bearer.lower().startswith("bearer ") else None)


def _right(given: str, expected: str) -> bool:
    return hmac.compare_digest(_digest(given), _digest(expected))  # equal lengths: constant


def _cookies() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(list(get_settings().signing_keys), salt="academichub.admin")


def _signed_in(request: Request, expected: str) -> bool:
    try:
        bound = _cookies().loads(request.cookies.get(COOKIE, ""), max_age=SESSION_SECONDS)
    except BadSignature:
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, _digest(expected).hex())


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


def chart(stats: list[DayStats], width: int = 720, height: int = 220) -> dict:
    """Grouped bars per day for the series above; the y axis scales to the largest value."""
    top = max([getattr(row, name) for row in stats for name, _ in SERIES] + [1])
    pad, days = 30, max(len(stats), 1)
    slot = (width - pad) / days
    bar = max(slot / (len(SERIES) + 1), 1)
    bars, ticks = [], []
    for i, row in enumerate(stats):
        x0 = pad + i * slot
        for j, (name, colour) in enumerate(SERIES):
            value = getattr(row, name)
            h = value / top * (height - 20)
            bars.append(Bar(round(x0 + j * bar, 1), round(height - h, 1), round(bar, 1),
                            round(h, 1), colour, f"{name} {row.day.isoformat()}: {value}"))
        ticks.append((round(x0, 1), f"{row.day:%m-%d}"))
    legend = [(pad + j * 90, name, colour) for j, (name, colour) in enumerate(SERIES)]
    return {"width": width, "height": height, "pad": pad, "top": top, "bars": bars,
            "ticks": ticks, "legend": legend}


def _login(request: Request, status: int, error: str | None = None) -> Response:
    return render(request, "admin_login.html", page_locale(request), status, error=error)


def operator(request: Request, *, json: bool = False) -> Response | None:
    """None when the request is the operator's (the right token in a header, or the sign-in
    cookie); otherwise the answer to give. Every /admin page asks this first."""
    expected = get_settings().admin_token
    if not expected:
        return HTMLResponse("Not Found", status_code=404)
    limits: security.RateLimits = request.app.state.rate_limits
    given = _given(request)
    if given is not None:
        if limits.admin_locked(client_ip(request)):
            return JSONResponse({"detail": "too many attempts"}, 429)
        if not _right(given, expected):
            limits.admin_failed(client_ip(request))
            return JSONResponse({"detail": "wrong admin token"}, 403)
        return None
    if _signed_in(request, expected):
        return None
    if json:
        return JSONResponse({"detail": "admin token required"}, 401)
    return _login(request, 401)


def form_ok(request: Request, data: dict | None) -> bool:
    """A form posted with the sign-in cookie must carry the page's CSRF token (a header
    token cannot be sent by another site's form, so scripts need none)."""
    return _given(request) is not None or (data is not None and csrf_ok(request, data))


@router.get("/admin", include_in_schema=False)
def admin(request: Request, session: SessionDep, days: int = 14, format: str = "html"):
    if (denied := operator(request, json=format == "json")) is not None:
        return denied
    stats = daily_stats(session, max(1, min(days, 366)))
    if format == "json":
        return JSONResponse([row.as_dict() for row in stats])
    return render(request, "admin.html", page_locale(request), stats=list(reversed(stats)),
                  fields=FIELDS, total=totals(stats), chart=chart(stats), days=len(stats))


@router.post("/admin/login", include_in_schema=False)
def admin_login(request: Request, data: FormDep) -> Response:
    expected = get_settings().admin_token
    if not expected:
        return HTMLResponse("Not Found", status_code=404)
    tr = i18n.translator(page_locale(request))
    limits: security.RateLimits = request.app.state.rate_limits
    if data is None or not csrf_ok(request, data):
        return _login(request, 403, tr.gettext("This form has expired. Reload the page and "
                                               "try again."))
    if limits.admin_locked(client_ip(request)):
        return _login(request, 429, tr.gettext("Too many attempts. Please try again in a "
                                               "while."))
    if not _right(str(data.get("token", "")), expected):
        limits.admin_failed(client_ip(request))
        return _login(request, 403, tr.gettext("That is not the admin token."))
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(COOKIE, _cookies().dumps(_digest(expected).hex()), max_age=SESSION_SECONDS,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/admin")
    return response


@router.post("/admin/logout", include_in_schema=False)
def admin_logout(request: Request, data: FormDep) -> Response:
    response = RedirectResponse("/admin", status_code=303)
    if data is not None and csrf_ok(request, data):
        response.delete_cookie(COOKIE, path="/admin")
    return response
