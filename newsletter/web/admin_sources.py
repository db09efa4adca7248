"""The operator's view of the sources: GET /admin/sources, each feed's health, and a switch.

Health is what an operator needs to see a journal's feed go wrong: when it was last fetched,
its status and last error, how many papers the last fetch read, and papers per day over the
last week (papers are attributed to a source by the label it stores them under, so the arXiv
category feeds share one arXiv figure). POST /admin/sources/{name} with `enabled=yes|no` is
the same switch as `newsletter sources enable|disable`. Same operator check as /admin
(`admin.operator`: a header token or the sign-in cookie, never a token in the URL); the page
is a Jinja template, its switches forms with the CSRF token.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from newsletter.core.models import Paper, Source
from newsletter.core.time import as_utc, utcnow
from newsletter.harvest.sources import list_sources, set_enabled
from newsletter.web.admin import form_ok, operator
from newsletter.web.common import FormDep, SessionDep, page_locale, render

router = APIRouter()
WEEK = 7


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


COLUMNS = ("name", "label", "field", "enabled", "last_fetch", "last_status", "last_count",
           "papers_per_day", "last_error")


@router.get("/admin/sources", include_in_schema=False)
def admin_sources(request: Request, session: SessionDep, format: str = "html"):
    if (denied := operator(request, json=format == "json")) is not None:
        return denied
    rows = health(session)
    if format == "json":
        return JSONResponse(rows)
    return render(request, "admin_sources.html", page_locale(request), rows=rows,
                  columns=COLUMNS, enabled=sum(r["enabled"] for r in rows))


@router.post("/admin/sources/{name}", include_in_schema=False)
def admin_switch(name: str, request: Request, session: SessionDep, data: FormDep):
    if (denied := operator(request)) is not None:
        return denied
    if not form_ok(request, data):
        return JSONResponse({"detail": "this form has expired; reload the page"}, 403)
    enabled = (data or {}).get("enabled")
    if enabled not in ("yes", "no"):
        return JSONResponse({"detail": "enabled must be yes or no"}, 400)
    try:
        set_enabled(session, name, enabled == "yes")
    except KeyError:
        return JSONResponse({"detail": f"no source named {name[:100]}"}, 404)
    return RedirectResponse("/admin/sources", status_code=303)
