"""The operator's view of the sources: GET /admin/sources, each feed's health, and a switch.

Health is what an operator needs to see a journal's feed go wrong: when it was last fetched,
its status and last error, how many papers the last fetch read, and papers per day over the
last week (papers are attributed to a source by the label it stores them under, so the arXiv
category feeds share one arXiv figure). POST /admin/sources/{name} with `enabled=yes|no` is
the same switch as `newsletter sources enable|disable`. Same token as /admin (ADMIN_TOKEN).
"""

from __future__ import annotations

import datetime as dt
from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from newsletter.core.models import Paper, Source
from newsletter.core.time import as_utc, utcnow
from newsletter.harvest.sources import list_sources, set_enabled
from newsletter.web.admin import _authorized
from newsletter.web.webhooks import SessionDep

router = APIRouter()
WEEK = 7
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def health(session: Session, now: dt.datetime | None = None) -> list[dict]:
    """Every source as `newsletter sources --json` lists it, plus its health."""
    now = as_utc(now or utcnow())
    rows = {r.name: r for r in session.exec(select(Source)).all()}
    since = now - dt.timedelta(days=WEEK)
    per_label = dict(session.exec(
        select(func.lower(Paper.source), func.count()).where(col(Paper.first_seen) >= since)
        .group_by(func.lower(Paper.source))).all())
    out = []
    for entry in list_sources(session):
        row = rows[entry["name"]]
        papers = per_label.get(row.label.lower(), 0) or per_label.get(row.name.lower(), 0)
        out.append({**entry, "last_fetch": row.last_fetch.isoformat() if row.last_fetch else None,
                    "last_status": row.last_status, "last_error": row.last_error,
                    "last_count": row.last_count, "papers_per_day": round(papers / WEEK, 1)})
    return out


def page(rows: list[dict], token: str) -> str:
    columns = ("name", "label", "field", "enabled", "last_fetch", "last_status", "last_count",
               "papers_per_day", "last_error")
    head = "".join(f"<th>{escape(c)}</th>" for c in (*columns, ""))
    body = []
    for row in rows:
        cells = "".join(f"<td>{escape('' if row[c] is None else str(row[c]))}</td>"
                        for c in columns)
        action = f"/admin/sources/{quote(row['name'])}?token={quote(token)}"
        switch = "no" if row["enabled"] else "yes"
        label = "disable" if row["enabled"] else "enable"
        body.append(f"<tr>{cells}<td><form method=\"post\" action=\"{escape(action)}\">"
                    f"<input type=\"hidden\" name=\"enabled\" value=\"{switch}\">"
                    f"<button type=\"submit\">{label}</button></form></td></tr>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>AcademicHub sources</title></head><body>"
            f"<h1>Sources ({sum(r['enabled'] for r in rows)} of {len(rows)} enabled)</h1>"
            f"<table border=\"1\" cellpadding=\"4\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></body></html>")


def _denied(request: Request) -> HTMLResponse | None:
    allowed = _authorized(request)
    if allowed is None:
        return HTMLResponse("Not Found", status_code=404)
    if not allowed:
        return HTMLResponse("Forbidden: ADMIN_TOKEN required", status_code=403, headers=HEADERS)
    return None


@router.get("/admin/sources", include_in_schema=False)
def admin_sources(request: Request, session: SessionDep, format: str = "html"):
    if (denied := _denied(request)) is not None:
        return denied
    rows = health(session)
    if format == "json":
        return JSONResponse(rows, headers=HEADERS)
    return HTMLResponse(page(rows, request.query_params.get("token", "")), headers=HEADERS)


@router.post("/admin/sources/{name}", include_in_schema=False)
def admin_switch(name: str, request: Request, session: SessionDep,
                 enabled: str = Form(...)):
    if (denied := _denied(request)) is not None:
        return denied
    if enabled not in ("yes", "no"):
        return HTMLResponse("enabled must be yes or no", status_code=400, headers=HEADERS)
    try:
        set_enabled(session, name, enabled == "yes")
    except KeyError:
        return HTMLResponse(f"no source named {escape(name)}", status_code=404, headers=HEADERS)
    token = request.query_params.get("token", "")
    return RedirectResponse(f"/admin/sources?token={quote(token)}" if token else "/admin/sources",
                            status_code=303, headers=HEADERS)
