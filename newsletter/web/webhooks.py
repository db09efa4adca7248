"""Provider webhooks and our click redirect: POST /webhooks/sendgrid, GET /c/{token}.

The webhook reads the raw body first and verifies the signature over exactly those bytes
(re-serialized JSON would not match); nothing is parsed from an unverified request. The
body is read on the event loop; verifying, parsing and storing run in the thread pool (the
handler is a plain `def`), so a batch of thousands of events holds up no other request.
"""

from __future__ import annotations

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


async def raw_body(request: Request) -> bytes:
    return await request.body()


@router.post("/webhooks/sendgrid", include_in_schema=False)
def sendgrid_events(request: Request, raw: Annotated[bytes, Depends(raw_body)],
                    session: SessionDep) -> JSONResponse:
    try:
        track.verify_signature(raw, request.headers.get(track.SIGNATURE_HEADER),
                               request.headers.get(track.TIMESTAMP_HEADER))
    except track.SignatureError as error:
        return JSONResponse({"error": str(error)}, status_code=403)
    try:
        events = track.parse_batch(raw)
    except track.BatchError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
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
