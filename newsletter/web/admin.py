"""The operator's page: GET /admin, per-day delivery figures and a chart, behind ADMIN_TOKEN.

The token comes in the `X-Admin-Token` header, `Authorization: Bearer ...`, or `?token=`;
without ADMIN_TOKEN configured the page does not exist (404). The chart is inline SVG built
from attributes only (no script, no inline style), so it passes the site's strict CSP.
"""

from __future__ import annotations

import hmac
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from newsletter.core.config import get_settings
from newsletter.tracking.stats import FIELDS, DayStats, daily_stats, totals
from newsletter.web.webhooks import SessionDep

router = APIRouter()
SERIES = (("sent", "#2563eb"), ("skipped", "#9ca3af"), ("failed", "#dc2626"),
          ("opened", "#16a34a"), ("clicked", "#f59e0b"))


def _authorized(request: Request) -> bool | None:
    expected = get_settings().admin_token
    if not expected:
        return None
    bearer = request.headers.get("authorization", "")
    given = (request.headers.get("x-admin-token")
             or (bearer[7:] if bearer.lower().startswith("bearer ") else "")
             or request.query_params.get("token") or "")
    return hmac.compare_digest(given.encode(), expected.encode())


def chart(stats: list[DayStats], width: int = 720, height: int = 220) -> str:
    """Grouped bars per day for the series above; the y axis scales to the largest value."""
    top = max([getattr(row, name) for row in stats for name, _ in SERIES] + [1])
    pad, days = 30, max(len(stats), 1)
    slot = (width - pad) / days
    bar = max(slot / (len(SERIES) + 1), 1)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
              f'role="img" aria-label="digests per day">'),
             f'<text x="0" y="12" font-size="10">{top}</text>',
             f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#444"/>']
    for i, row in enumerate(stats):
        x0 = pad + i * slot
        for j, (name, colour) in enumerate(SERIES):
            value = getattr(row, name)
            h = value / top * (height - 20)
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} '
                         f'{row.day.isoformat()}: {value}</title></rect>')
        parts.append(f'<text x="{x0:.1f}" y="{height + 14}" font-size="9">'
                     f'{row.day:%m-%d}</text>')
    for j, (name, colour) in enumerate(SERIES):
        parts.append(f'<rect x="{pad + j * 90}" y="{height + 24}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{pad + j * 90 + 14}" y="{height + 33}" '
                     f'font-size="10">{name}</text>')
    return "".join(parts) + "</svg>"


def page(stats: list[DayStats]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in ("day", *FIELDS))
    body = "".join(
        "<tr>" + f"<td>{row.day.isoformat()}</td>"
        + "".join(f"<td>{getattr(row, name)}</td>" for name in FIELDS) + "</tr>"
        for row in reversed(stats))
    total = totals(stats)
    foot = "<tr><th>total</th>" + "".join(f"<th>{total[name]}</th>" for name in FIELDS) + "</tr>"
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>AcademicHub admin</title></head><body>"
            f"<h1>Delivery, last {len(stats)} days</h1>{chart(stats)}"
            f"<table border=\"1\" cellpadding=\"4\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table></body></html>")


@router.get("/admin", include_in_schema=False)
def admin(request: Request, session: SessionDep, days: int = 14, format: str = "html"):
    allowed = _authorized(request)
    if allowed is None:
        return HTMLResponse("Not Found", status_code=404)
    if not allowed:
        return HTMLResponse("Forbidden: ADMIN_TOKEN required", status_code=403,
                            headers={"Cache-Control": "no-store"})
    stats = daily_stats(session, max(1, min(days, 366)))
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if format == "json":
        return JSONResponse([row.as_dict() for row in stats], headers=headers)
    return HTMLResponse(page(stats), headers=headers)
