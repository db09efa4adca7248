"""Server-rendered pages: landing, subscribe, confirm, preferences, unsubscribe, web view.

Everything works without JavaScript (static/app.js only adds chips, time zone detection
and the live preview). Token pages find the subscriber through a signed link; a bad link
is a 400 page saying why, never a 500. Forms carry a CSRF token, except the RFC 8058
one-click unsubscribe POST, which must work with no cookie and no token.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

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
from newsletter.subscribers.lifecycle import PENDING_DAYS
from newsletter.tracking import ratings
from newsletter.web import learning_pages, security
from newsletter.web.common import (
    LIST_FIELDS,
    FormDep,
    SessionDep,
    client_ip,
    csrf_ok,
    error_page,
    form_context,
    form_values,
    message_page,
    page_locale,
    render,
    split_lines,
    subscriber_values,
    token_error,
)
from newsletter.web.preview import card, preview

log = logging.getLogger(__name__)
router = APIRouter()


# --- landing and subscribe ----------------------------------------------------------------

def landing(request: Request, session: Session, locale: str, values: dict[str, Any],
            errors: dict[str, str], status: int = 200, page: int = 1) -> Response:
    topics = {k: split_lines(values.get(k, ""), commas=k == "excludes") for k in LIST_FIELDS}
    try:
        topics = {k: validation.clean_items(k, v) for k, v in topics.items()}
    except validation.InvalidInput:
        topics = {k: [] for k in LIST_FIELDS}
    cards, has_more = preview(session, page=page, **topics)
    if not cards and page > 1:
        page = 1
        cards, has_more = preview(session, page=1, **topics)
    cards = [(c, reason_text(c.reasons, locale)) for c in cards]
    return render(request, "index.html", locale, status, cards=cards,
                  has_more=has_more,
                  page=page, **form_context(values, errors, locale))


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep, page: int = 1) -> Response:
    locale = page_locale(request)
    values = {"locale": locale, "timezone": "UTC", "send_hour": 7, "frequency": "daily",
              "weekday": 0}
    values.update({k: request.query_params.get(k, "")[:3000] for k in LIST_FIELDS})
    return landing(request, session, locale, values, {}, page=min(max(page, 1), 100))


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, session: SessionDep, data: FormDep) -> Response:
    if data is None:
        return error_page(request, "bad_request", 400)
    locale = i18n.pick_locale(data.get("locale"), request.headers.get("accept-language"))
    tr = i18n.translator(locale)
    if not csrf_ok(request, data):
        return error_page(request, "csrf_failed", 403, locale)
    limits: security.RateLimits = request.app.state.rate_limits
    if not limits.allow_ip(client_ip(request)):
        return error_page(request, "rate_limited", 429, locale)
    done = message_page(
        request, locale, tr.gettext("Check your inbox"),
        tr.ngettext("If the address can receive our digest, a confirmation link is on its way. "
                    "Open it within %(num)s day to start your subscription.",
                    "If the address can receive our digest, a confirmation link is on its way. "
                    "Open it within %(num)s days to start your subscription.", PENDING_DAYS),
        note=tr.gettext("Nothing after a few minutes? Look in the spam folder."))
    if data.get("website"):  # the honeypot: bots fill every field
        return done
    fields = {k: data[k] for k in ("locale", "timezone", "send_hour", "frequency", "weekday")
              if k in data}
    fields["include_news"] = data.get("include_news", "")  # an unticked box sends nothing
    fields.update({k: data.get(k, []) for k in LIST_FIELDS})
    errors: dict[str, str] = {}
    for check in (lambda: validation.normalize_email(data.get("email", "")),
                  lambda: validation.validate(fields)):  # both, so both messages show at once
        try:
            check()
        except validation.InvalidInput as error:
            errors[error.field] = error.text(locale)
    if errors:
        return landing(request, session, locale, form_values(data), errors, status=422)
    email = validation.normalize_email(data["email"])
    if not limits.allow_mailbox(email):
        return error_page(request, "rate_limited", 429, locale)
    try:
        subscriber = lifecycle.subscribe(session, email, **fields, source="web")
    except validation.InvalidInput as error:  # validate() above should have caught it
        errors = {error.field: error.text(locale)}
        return landing(request, session, locale, form_values(data), errors, status=422)
    try:
        lifecycle.send_confirmation(session, subscriber)
    except Exception:  # the page must not reveal whether anything was sent
        log.exception("confirmation email for subscriber %s failed", subscriber.id)
    return done


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        was_pending = lifecycle.subscriber_from_token(
            session, "confirm", token).status == SubscriberStatus.PENDING
        subscriber = lifecycle.confirm(session, token)
    except links.InvalidToken as error:
        return token_error(request, error)
    if was_pending:  # a second click on the link sends nothing
        try:
            lifecycle.send_welcome(session, subscriber)
        except Exception:  # the subscription is active either way
            log.exception("welcome email for subscriber %s failed", subscriber.id)
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    body = tr.gettext("Your digest arrives around %(hour)s:00 (%(timezone)s), %(frequency)s.",
                      hour=f"{subscriber.send_hour:02d}", timezone=subscriber.timezone,
                      frequency=tr.gettext("weekly") if subscriber.frequency == "weekly"
                      else tr.gettext("daily"))
    return message_page(request, locale, tr.gettext("You're subscribed"), body,
                        link=links.url_for("preferences", subscriber),
                        link_label=tr.gettext("Edit your preferences"))


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
    prefs_path = re.sub(r"/(library|rate)$", "", request.url.path)  # forms post back here
    return render(request, "preferences.html", locale, status, subscriber=subscriber,
                  archive=archive, notice=notice, picks=picks, details=details or [],
                  undo=undo, prefs_path=prefs_path,
                  unsubscribe_url=links.url_for("unsubscribe", subscriber),
                  **learning_pages.learning_context(session, subscriber),
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
def preferences_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscriber = lifecycle.subscriber_from_token(session, "preferences", token)
    except links.InvalidToken as error:
        return token_error(request, error)
    return preferences_view(request, session, subscriber)


@router.post("/preferences/{token}", response_class=HTMLResponse)
def preferences_save(token: str, request: Request, session: SessionDep,
                     data: FormDep) -> Response:
    try:
        subscriber = lifecycle.subscriber_from_token(session, "preferences", token)
    except links.InvalidToken as error:
        return token_error(request, error)
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    if data is None:
        return error_page(request, "bad_request", 400, locale)
    if not csrf_ok(request, data):
        return error_page(request, "csrf_failed", 403, locale)
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
def export_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscriber = lifecycle.subscriber_from_token(session, "preferences", token)
    except links.InvalidToken as error:
        return token_error(request, error)
    body = json.dumps(lifecycle.export_data(session, subscriber), ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": 'attachment; filename="academichub-my-data.json"'})


# --- unsubscribe, web view, feedback, health ------------------------------------------------

@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscriber = lifecycle.subscriber_from_token(session, "unsubscribe", token)
    except links.InvalidToken as error:
        return token_error(request, error)
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
def unsubscribe_post(token: str, request: Request, session: SessionDep,
                     data: FormDep) -> Response:
    """RFC 8058 one-click (and the page's button): no cookie, no CSRF token, always 200."""
    try:
        subscriber = lifecycle.subscriber_from_token(session, "unsubscribe", token)
    except links.InvalidToken as error:
        return token_error(request, error)
    one_click = (data or {}).get("List-Unsubscribe") == "One-Click"
    lifecycle.unsubscribe(session, subscriber, "one-click" if one_click else "web")
    return unsubscribed(request, page_locale(request, subscriber.locale), subscriber)


@router.get("/d/{token}", response_class=HTMLResponse)
def digest_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscriber = lifecycle.subscriber_from_token(session, "digest", token)
        data = links.read_token("digest", token)
    except links.InvalidToken as error:
        return token_error(request, error)
    digest_id = data.extra.get("digest", data.extra.get("d"))
    digest = session.get(Digest, digest_id) if isinstance(digest_id, int) else None
    if digest is None or digest.subscriber_id != subscriber.id:
        return error_page(request, "not_found", 404, subscriber.locale)
    if digest.html:
        return HTMLResponse(digest.html, headers={"Content-Security-Policy": security.DIGEST_CSP})
    rows = session.exec(select(DigestItem, Paper).join(Paper)
                        .where(DigestItem.digest_id == digest.id).order_by(DigestItem.rank)).all()
    locale = page_locale(request, subscriber.locale)
    cards = [(card(n, paper, abstract_chars=800),
              reason_text(reasons_from_json(item.reasons), locale) or item.reason)
             for n, (item, paper) in enumerate(rows, 1)]
    return render(request, "digest.html", locale, digest=digest, cards=cards,
                  note=skip_note(digest, subscriber, locale),
                  preferences_url=links.url_for("preferences", subscriber))


@router.get("/f/{token}", response_class=HTMLResponse)
def feedback_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscriber = lifecycle.subscriber_from_token(session, "feedback", token)
        data = links.read_token("feedback", token)
    except links.InvalidToken as error:
        return token_error(request, error)
    signal = data.extra.get("signal")
    paper_id = data.extra.get("paper", data.extra.get("p"))
    paper = session.get(Paper, paper_id) if isinstance(paper_id, str) else None
    if signal not in ("more", "less") or paper is None:
        return error_page(request, "not_found", 404, subscriber.locale)
    # A labelled example: one per paper, the last click wins; a second click (or a mail
    # scanner) changes nothing. The page offers an undo (learning_pages.feedback_undo).
    ratings.rate(session, subscriber, paper, ratings.SIGNALS[signal], "email")
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    body = learning_pages.voted(locale, signal, paper.title[:200])
    return message_page(request, locale, tr.gettext("Thank you"), body,
                        link=links.url_for("preferences", subscriber),
                        link_label=tr.gettext("Edit your preferences"),
                        undo_url=request.url.path, undo_label=tr.gettext("Undo"))


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
