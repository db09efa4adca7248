"""The personal Atom feed over HTTP: `GET /feed/{token}` for feed readers, and the
preferences page's feed section (copy the address, one entry per digest or per paper,
revoke the address and get a new one).

The feed's link has no time stamp (links.UNTIMED: one address a reader keeps) and carries
the subscriber's `feed_version`; revoking bumps it, and the old address answers 410 Gone
with a sentence saying so. A link that is not ours is a 404. Readers poll: the answer
carries a weak ETag and Last-Modified, and a matching conditional GET gets a 304.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.compose.feed import MODES, build_feed
from newsletter.core import links
from newsletter.core.models import Subscriber
from newsletter.locale.i18n import translator
from newsletter.subscribers import lifecycle
from newsletter.web.common import (
    FormDep,
    LinkTo,
    SessionDep,
    error_page,
    message_page,
    page_locale,
    refused_form,
)

router = APIRouter()
PreferencesLink = Annotated[Subscriber, LinkTo("preferences")]
ATOM = "application/atom+xml"


def feed_context(subscriber: Subscriber) -> dict[str, Any]:
    """What the preferences page shows about the feed."""
    return {"feed_url": links.feed_url(subscriber), "feed_mode": subscriber.feed_mode}


def _not_modified(request: Request, etag: str, updated: dt.datetime) -> bool:
    asked = request.headers.get("if-none-match")
    if asked is not None:  # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
        return etag in {tag.strip() for tag in asked.split(",")} or asked.strip() == "*"
    since = request.headers.get("if-modified-since")
    try:
        return since is not None and updated.replace(microsecond=0) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


@router.api_route("/feed/{token}", methods=["GET", "HEAD"],  # readers probe with HEAD
                  include_in_schema=False)  # one operation id for two methods otherwise
def feed(token: str, request: Request, session: SessionDep) -> Response:
    locale = page_locale(request)
    tr = translator(locale)
    try:
        data = links.read_token("feed", token)
    except links.InvalidToken:
        return message_page(request, locale, tr.gettext("No such feed"), tr.gettext(
            "This feed address is not valid: check that it was copied whole."), 404, home=True)
    try:
        subscriber = lifecycle.subscriber_from_token(session, "feed", token)
    except links.InvalidToken:
        subscriber = None
    if subscriber is None or data.extra.get("f") != subscriber.feed_version:
        return message_page(request, locale, tr.gettext("This feed has moved"), tr.gettext(
            "This feed address was revoked. The current one is on your preferences page."),
            410, home=True)
    built = build_feed(session, subscriber)
    headers = {"ETag": built.etag, "Last-Modified": format_datetime(built.updated, usegmt=True),
               "Cache-Control": "private, no-cache"}
    if _not_modified(request, built.etag, built.updated):
        return Response(status_code=304, headers=headers)
    return Response(built.xml, media_type=f"{ATOM}; charset=utf-8", headers=headers)


@router.post("/preferences/{token}/feed", response_class=HTMLResponse)
def feed_settings(request: Request, session: SessionDep, subscriber: PreferencesLink,
                  data: FormDep) -> Response:
    from newsletter.web.pages import preferences_view

    locale = page_locale(request, subscriber.locale)
    if (refused := refused_form(request, data, locale)) is not None:
        return refused
    tr = translator(locale)
    action = data.get("action")
    if action == "revoke":
        subscriber.feed_version += 1
        notice = tr.gettext("Your feed has a new address; the old one no longer works.")
    elif action == "mode" and data.get("feed_mode") in MODES:
        subscriber.feed_mode = data["feed_mode"]
        notice = tr.gettext("Saved.")
    else:
        return error_page(request, "bad_request", 400, locale)
    session.add(subscriber)
    session.commit()
    return preferences_view(request, session, subscriber, notice=notice)
