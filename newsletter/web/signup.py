"""Signing up: the landing page, subscribe, confirm, and a fresh preferences link by email.

Subscribe checks the form and the limits, answers, and only then saves the subscription and
sends the one email it calls for (a confirmation, or "you are already subscribed" with the
preferences link: `notices.subscribe_in_background`), so neither the page nor its timing
depends on whether the address is subscribed. Confirming is two steps: the emailed link
opens a page with one button (mail scanners follow links, they do not press buttons) that
POSTs; the first POST activates the subscription and shows the preferences link once, a used
link says "already confirmed". Everything works without JavaScript.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.core import links
from newsletter.core.config import get_settings
from newsletter.core.models import Subscriber, SubscriberStatus
from newsletter.locale import i18n
from newsletter.locale.reasons import reason_text
from newsletter.subscribers import lifecycle, notices, validation
from newsletter.subscribers.lifecycle import PENDING_DAYS
from newsletter.web import security
from newsletter.web.common import (
    LIST_FIELDS,
    FormDep,
    LinkTo,
    SessionDep,
    client_ip,
    csrf_ok,
    error_page,
    form_context,
    form_values,
    message_page,
    page_locale,
    refused_form,
    render,
    split_lines,
)
from newsletter.web.preview import preview

router = APIRouter()
ConfirmLink = Annotated[Subscriber, LinkTo("confirm")]


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


def check_inbox(request: Request, locale: str) -> Response:
    tr = i18n.translator(locale)
    return message_page(
        request, locale, tr.gettext("Check your inbox"),
        tr.ngettext("If the address can receive our digest, a confirmation link is on its way. "
                    "Open it within %(num)s day to start your subscription.",
                    "If the address can receive our digest, a confirmation link is on its way. "
                    "Open it within %(num)s days to start your subscription.", PENDING_DAYS),
        note=tr.gettext("Nothing after a few minutes? Look in the spam folder."))


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, session: SessionDep, data: FormDep,
                   background: BackgroundTasks) -> Response:
    if data is None:
        return error_page(request, "bad_request", 400)
    locale = i18n.pick_locale(data.get("locale"), request.headers.get("accept-language"))
    if not csrf_ok(request, data):
        return error_page(request, "csrf_failed", 403, locale)
    limits: security.RateLimits = request.app.state.rate_limits
    if not limits.allow_ip(client_ip(request)):
        return error_page(request, "rate_limited", 429, locale)
    if data.get("website"):  # the honeypot: bots fill every field
        return check_inbox(request, locale)
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
    background.add_task(notices.subscribe_in_background, email, fields, "web")
    return check_inbox(request, locale)


# --- confirm: a page with a button, then one POST ------------------------------------------

def already_confirmed(request: Request, subscriber: Subscriber) -> Response:
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    return message_page(request, locale, tr.gettext("Already confirmed"),
                        tr.gettext("This link was used already: the subscription is active. "
                                   "Every digest carries a link to your preferences."),
                        home=True)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, subscriber: ConfirmLink) -> Response:
    if subscriber.status != SubscriberStatus.PENDING:
        return already_confirmed(request, subscriber)
    return render(request, "confirm.html", page_locale(request, subscriber.locale),
                  subscriber=subscriber)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_post(request: Request, session: SessionDep, subscriber: ConfirmLink,
                 data: FormDep, background: BackgroundTasks) -> Response:
    locale = page_locale(request, subscriber.locale)
    if (refused := refused_form(request, data, locale)) is not None:
        return refused
    if not lifecycle.activate(session, subscriber):  # a used link, a second press
        return already_confirmed(request, subscriber)
    background.add_task(notices.after_confirm, subscriber.id)
    tr = i18n.translator(locale)
    body = tr.gettext("Your digest arrives around %(hour)s:00 (%(timezone)s), %(frequency)s.",
                      hour=f"{subscriber.send_hour:02d}", timezone=subscriber.timezone,
                      frequency=tr.gettext("weekly") if subscriber.frequency == "weekly"
                      else tr.gettext("daily"))
    return message_page(request, locale, tr.gettext("You're subscribed"), body,
                        link=links.url_for("preferences", subscriber),
                        link_label=tr.gettext("Edit your preferences"))


# --- a fresh preferences link ----------------------------------------------------------------

@router.get("/preferences", response_class=HTMLResponse)
def new_link_page(request: Request) -> Response:
    return render(request, "new_link.html", page_locale(request), expired=False,
                  link_days=get_settings().preferences_link_days, errors={})


@router.post("/preferences", response_class=HTMLResponse)
def new_link_post(request: Request, data: FormDep, background: BackgroundTasks) -> Response:
    """Mails a fresh link to the address on file, if there is one: the same answer whoever
    asks, limited like subscribing (per client and per mailbox)."""
    locale = page_locale(request)
    if (refused := refused_form(request, data, locale)) is not None:
        return refused
    limits: security.RateLimits = request.app.state.rate_limits
    try:
        email = validation.normalize_email(data.get("email", ""))
    except validation.InvalidInput as error:
        return render(request, "new_link.html", locale, 422, expired=False,
                      link_days=get_settings().preferences_link_days,
                      errors={"email": error.text(locale)})
    if not limits.allow_ip(client_ip(request)) or not limits.allow_mailbox(email):
        return error_page(request, "rate_limited", 429, locale)
    background.add_task(notices.preferences_link_for, email)
    tr = i18n.translator(locale)
    return message_page(request, locale, tr.gettext("Check your inbox"),
                        tr.gettext("If this address is subscribed, a fresh link to its "
                                   "preferences is on its way."),
                        note=tr.gettext("Nothing after a few minutes? Look in the spam folder."),
                        home=True)
