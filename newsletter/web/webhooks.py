"""Provider webhooks and our click redirect: POST /webhooks/sendgrid, GET /c/{token}.

The webhook reads the raw body first and verifies the signature over exactly those bytes
(re-serialized JSON would not match); nothing is parsed from an unverified request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlmodel import Session

from newsletter.core import links
from newsletter.core.db import get_engine
from newsletter.tracking import track

router = APIRouter()


def _session() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


@router.post("/webhooks/sendgrid", include_in_schema=False)
async def sendgrid_events(request: Request, session: SessionDep) -> JSONResponse:
    raw = await request.body()
    try:
        track.verify_signature(raw, request.headers.get(track.SIGNATURE_HEADER),
                               request.headers.get(track.TIMESTAMP_HEADER))
    except track.SignatureError as error:
        return JSONResponse({"error": str(error)}, status_code=403)
    try:
        events = json.loads(raw)
    except ValueError:
        return JSONResponse({"error": "body is not JSON"}, status_code=400)
    if not isinstance(events, list):
        return JSONResponse({"error": "expected a JSON array of events"}, status_code=400)
    result = track.ingest_events(session, events)
    return JSONResponse({"stored": result.stored, "duplicates": result.duplicates,
                         "ignored": result.ignored})


@router.get("/c/{token}", include_in_schema=False)
def click(token: str, session: SessionDep):
    try:
        target = track.record_click(session, token)
    except links.InvalidToken:
        return HTMLResponse("<!doctype html><title>Link not valid</title>"
                            "<p>This link is not valid.</p>", status_code=404)
    return RedirectResponse(target, status_code=302)
