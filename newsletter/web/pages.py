"""Server-rendered pages behind a subscriber's signed links: preferences, unsubscribe, the
web view, feedback; and the health check. (Landing, subscribe, confirm: `signup`.)

Everything works without JavaScript (static/app.js only adds chips, time zone detection
and the live preview). Token pages find the subscriber through `LinkTo(purpose)`; a bad
link is a 400 page saying why, never a 500. Forms carry a CSRF token, except the RFC 8058
one-click unsubscribe POST, which must work with no cookie and no token.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session, select

from newsletter.core import links
from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Paper,
    Subscriber,
    SubscriberStatus,
)
from newsletter.locale import i18n
from newsletter.locale.reasons import reason_text
from newsletter.ranking.reasons import reasons_from_json
from newsletter.subscribers import lifecycle, validation
from newsletter.tracking import clicks, ratings
from newsletter.web import feed_pages, learning_pages, security
from newsletter.web.common import (
    LIST_FIELDS,
    FormDep,
    LinkTo,
    SessionDep,
    error_page,
    form_context,
    form_values,
    message_page,
    page_locale,
    refused_form,
    render,
    subscriber_values,
)
from newsletter.web.preview import card

log = logging.getLogger(__name__)
router = APIRouter()
PreferencesLink = Annotated[Subscriber, LinkTo("preferences")]
UnsubscribeLink = Annotated[Subscriber, LinkTo("unsubscribe")]


# --- preferences ------------------------------------------------------------------------

def digest_url(subscriber: Subscriber, digest: Digest) -> str:
    return links.url_for("digest", subscriber, digest=digest.id)


def skip_note(digest: Digest, subscriber: Subscriber, locale: str) -> str | None:
    """Why a digest was skipped, in the reader's language. The digest stores the English
    words; they are reworded only when the same facts still give the same English (the
    subscriber may have moved zone since), else shown as stored."""
    from newsletter.scheduling.arxiv_calendar import quiet_reason
    from newsletter.scheduling.pipeline import NO_MATCH

    if digest.status != DigestStatus.SKIPPED or not digest.error:
        return None
    if digest.error == NO_MATCH.text():
        return NO_MATCH.text(locale)
    try:
        facts = digest.local_date, subscriber.timezone, subscriber.send_hour
        if quiet_reason(*facts) == digest.error:
            return quiet_reason(*facts, locale=locale)
    except (ValueError, KeyError):  # an unknown zone: the stored words stand
        pass
    return digest.error


def preferences_view(request: Request, session: Session, subscriber: Subscriber, *,
                     values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                     notice: str | None = None, picks: list | None = None,
                     status: int = 200, details: list[str] | None = None,
                     undo: str | None = None) -> Response:
    """The page; `details` lists what an import skipped, `undo` the paper just rated."""
    locale = page_locale(request, subscriber.locale)
    digests = session.exec(select(Digest).where(Digest.subscriber_id == subscriber.id)
                           .order_by(Digest.local_date.desc()).limit(10)).all()
    archive = [(d, digest_url(subscriber, d), skip_note(d, subscriber, locale)) for d in digests]
    # Forms post back to this page's own route (never to a path taken from the request).
    prefs_path = request.app.url_path_for("preferences_page", token=request.path_params["token"])
    return render(request, "preferences.html", locale, status, subscriber=subscriber,
                  archive=archive, notice=notice, picks=picks, details=details or [],
                  undo=undo, prefs_path=prefs_path,
                  unsubscribe_url=links.url_for("unsubscribe", subscriber),
                  archive_url=links.url_for("archive", subscriber),
                  **learning_pages.learning_context(session, subscriber),
                  **feed_pages.feed_context(subscriber),
                  **form_context(values or subscriber_values(session, subscriber), errors or {},
                                 locale))


def next_picks(session: Session, subscriber: Subscriber) -> list:
    from newsletter.ranking.candidates import select_papers

    try:
        picks = select_papers(session, subscriber, limit=subscriber.max_papers)
    except Exception:  # a preview must never break saving
        log.exception("preview of next picks failed for subscriber %s", subscriber.id)
        return []
    return [(card(n, pick.paper), reason_text(pick.reasons, subscriber.locale))
            for n, pick in enumerate(picks, 1)]


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, session: SessionDep,
                     subscriber: PreferencesLink) -> Response:
    return preferences_view(request, session, subscriber)


@router.post("/preferences/{token}", response_class=HTMLResponse)
def preferences_save(request: Request, session: SessionDep, subscriber: PreferencesLink,
                     data: FormDep) -> Response:
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    if (refused := refused_form(request, data, locale)) is not None:
        return refused
    action = data.get("action", "save")
    try:
        if action == "pause":
            lifecycle.pause(session, subscriber)
            return preferences_view(request, session, subscriber,
                                    notice=tr.gettext("Paused. No email until you resume."))
        if action == "resume":
            lifecycle.resume(session, subscriber)
            return preferences_view(request, session, subscriber,
                                    notice=tr.gettext("Resumed. Welcome back."))
        if action == "delete":
            if data.get("confirm_delete") != "yes":
                return preferences_view(request, session, subscriber, status=422,
                                        errors={"delete": tr.gettext(
                                            "Tick the box to confirm the deletion.")})
            lifecycle.delete_data(session, subscriber)
            return message_page(
                request, locale, tr.gettext("Your data is deleted"),
                tr.gettext("We no longer hold anything about you. Old links no longer work."),
                home=True)
        if action != "save":
            return error_page(request, "bad_request", 400, locale)
        fields = {k: data.get(k, []) for k in LIST_FIELDS}
        fields.update({k: data[k] for k in validation.SCALARS if k in data})
        fields["include_news"] = data.get("include_news", "")  # unticked: absent
        lifecycle.update_preferences(session, subscriber, **fields)
    except validation.InvalidInput as error:
        values = {**subscriber_values(session, subscriber), **form_values(data)}
        values["email"] = subscriber.email
        return preferences_view(request, session, subscriber, values=values, status=422,
                                errors={error.field: error.text(locale)})
    return preferences_view(request, session, subscriber, notice=tr.gettext("Saved."),
                            picks=next_picks(session, subscriber))


@router.get("/preferences/{token}/export")
def export_page(session: SessionDep, subscriber: PreferencesLink) -> Response:
    body = json.dumps(lifecycle.export_data(session, subscriber), ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": 'attachment; filename="academichub-my-data.json"'})


# --- unsubscribe, web view, feedback, health ------------------------------------------------

@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, subscriber: UnsubscribeLink) -> Response:
    locale = page_locale(request, subscriber.locale)
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return unsubscribed(request, locale, subscriber)
    return render(request, "unsubscribe.html", locale, subscriber=subscriber)


def unsubscribed(request: Request, locale: str, subscriber: Subscriber) -> Response:
    tr = i18n.translator(locale)
    return message_page(request, locale, tr.gettext("You are unsubscribed"),
                        tr.gettext("You will not receive any more digests."),
                        note=tr.gettext("Changed your mind? You can resume from your preferences."),
                        link=links.url_for("preferences", subscriber),
                        link_label=tr.gettext("Edit your preferences"))


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_post(request: Request, session: SessionDep, subscriber: UnsubscribeLink,
                     data: FormDep) -> Response:
    """RFC 8058 one-click (and the page's button): no cookie, no CSRF token, always 200."""
    one_click = (data or {}).get("List-Unsubscribe") == "One-Click"
    lifecycle.unsubscribe(session, subscriber, "one-click" if one_click else "web")
    return unsubscribed(request, page_locale(request, subscriber.locale), subscriber)


@router.get("/d/{token}", response_class=HTMLResponse)
def digest_page(token: str, request: Request, session: SessionDep,
                subscriber: Annotated[Subscriber, LinkTo("digest")]) -> Response:
    data = links.read_token("digest", token)  # verified by LinkTo: its extras
    digest_id = data.extra.get("digest", data.extra.get("d"))
    digest = session.get(Digest, digest_id) if isinstance(digest_id, int) else None
    if digest is None or digest.subscriber_id != subscriber.id:
        return error_page(request, "not_found", 404, subscriber.locale)
    # A feed's link (ro) shows the digest alone: not the email as sent, whose unsubscribe,
    # preferences, save and vote links act for the subscriber, nor links to their pages.
    read_only = data.extra.get("ro") == 1
    if digest.html and not read_only:
        return HTMLResponse(digest.html, headers={"Content-Security-Policy": security.DIGEST_CSP})
    rows = session.exec(select(DigestItem, Paper).join(Paper)
                        .where(DigestItem.digest_id == digest.id).order_by(DigestItem.rank)).all()
    locale = page_locale(request, subscriber.locale)
    cards = [(card(n, paper, abstract_chars=800),
              reason_text(reasons_from_json(item.reasons), locale) or item.reason)
             for n, (item, paper) in enumerate(rows, 1)]
    for shown, _ in cards:
        shown.export_url = links.export_url(subscriber, paper=shown.id)
    return render(request, "digest.html", locale, digest=digest, cards=cards,
                  note=skip_note(digest, subscriber, locale),
                  bibtex_url=links.export_url(subscriber, digest=digest.id),
                  ris_url=links.export_url(subscriber, "ris", digest=digest.id),
                  **({} if read_only else {
                      "preferences_url": links.url_for("preferences", subscriber),
                      "archive_url": links.url_for("archive", subscriber),
                      "feed_url": links.feed_url(subscriber)}))


@router.get("/f/{token}", response_class=HTMLResponse)
def feedback_page(token: str, request: Request, session: SessionDep,
                  subscriber: Annotated[Subscriber, LinkTo("feedback")]) -> Response:
    data = links.read_token("feedback", token)  # verified by LinkTo: its extras
    signal = data.extra.get("signal")
    paper_id = data.extra.get("paper", data.extra.get("p"))
    paper = session.get(Paper, paper_id) if isinstance(paper_id, str) else None
    if signal not in ("more", "less") or paper is None:
        return error_page(request, "not_found", 404, subscriber.locale)
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    post_url = request.app.url_path_for("feedback_undo", token=token)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if clicks.Fetch(request.method, headers).prefetched(None):
        # A mail scanner opens every "more" and "less" link: it must not vote. A person whose
        # browser looks like one votes with the button (learning_pages.feedback_undo).
        return message_page(request, locale, tr.gettext("Your vote"), tr.gettext(
            "Record your vote on “%(title)s”?", title=paper.title[:200]),
            undo_url=post_url, undo_label=tr.gettext("Record my vote"), form_vote=signal)
    # A labelled example: one per paper, the last click wins; a second click changes
    # nothing. The page offers an undo (learning_pages.feedback_undo).
    ratings.rate(session, subscriber, paper, ratings.SIGNALS[signal], "email")
    body = learning_pages.voted(locale, signal, paper.title[:200])
    return message_page(request, locale, tr.gettext("Thank you"), body,
                        link=links.url_for("preferences", subscriber),
                        link_label=tr.gettext("Edit your preferences"),
                        undo_url=post_url, undo_label=tr.gettext("Undo"))


@router.get("/healthz")
def healthz(session: SessionDep) -> JSONResponse:
    """Up means the database answers and has its schema (migrations ran)."""
    try:
        session.exec(select(Subscriber.id).limit(1)).first()
    except Exception as error:  # noqa: BLE001  any database failure means "not healthy"
        log.error("health check failed: %s", error)  # details in the log, not to the world
        return JSONResponse({"status": "error", "database": type(error).__name__},
                            status_code=503)
    return JSONResponse({"status": "ok"})
