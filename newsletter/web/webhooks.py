"""Provider webhooks and our click redirect: POST /webhooks/sendgrid, GET|HEAD /c/{token}.

The webhook reads the raw body first and verifies the signature over exactly those bytes
(re-serialized JSON would not match); nothing is parsed from an unverified request. The
body is read on the event loop; verifying, parsing and storing run in the thread pool (the
handler is a plain `def`), so a batch of thousands of events holds up no other request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from newsletter.core import links
from newsletter.tracking import clicks, track
from newsletter.web.common import SessionDep

router = APIRouter()


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


@router.api_route("/c/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def click(token: str, request: Request, session: SessionDep):
    fetch = clicks.Fetch(request.method, {k.lower(): v for k, v in request.headers.items()})
    try:
        target = clicks.record_click(session, token, fetch)
    except links.InvalidToken:
        return HTMLResponse("<!doctype html><title>Link not valid</title>"
                            "<p>This link is not valid.</p>", status_code=404)
    return RedirectResponse(target, status_code=302)
