"""The JSON API under /api/: the pages' operations for scripts and the preview widget.

Same domain functions and rate limits as the forms; a token in the path stands for the
subscriber (the signed link from their email), so no CSRF token is needed: browsers only
send JSON cross-site after a CORS preflight, which this API never grants. Errors are
4xx JSON: 400 for a bad link, 409 for a used confirmation link, 422 for bad input, 429
for too many attempts. Subscribing answers the same whoever the address is, and sends its
email after the answer (see `notices.subscribe_in_background`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from newsletter.core.models import Subscriber, SubscriberStatus
from newsletter.locale import i18n
from newsletter.locale.reasons import reason_text
from newsletter.subscribers import lifecycle, notices, validation
from newsletter.web.common import LinkTo, SessionDep, client_ip, page_locale
from newsletter.web.preview import preview

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["api"])

Language = Literal[i18n.LOCALES]  # the languages whose catalogs ship
Topic = Annotated[str, StringConstraints(max_length=validation.MAX_TOPIC_CHARS)]
Topics = Annotated[list[Topic], Field(max_length=validation.MAX_TOPICS)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscribeIn(Strict):
    email: str = Field(max_length=320, examples=["ada@example.org"])
    keywords: Topics = []
    categories: Topics = []
    authors: Topics = []
    excludes: Topics = []
    sources: Topics = Field(default=[], description="journals or preprint servers by name or "
                            "label (GET /api/sources lists them)", examples=[["nature"]])
    include_news: bool = Field(default=False, description="journals' news and comment too")
    locale: Language = "en"
    timezone: str = Field(default="UTC", max_length=64, examples=["Asia/Shanghai"])
    send_hour: int = Field(default=7, ge=0, le=23)
    frequency: Literal["daily", "weekly"] = "daily"
    weekday: int = Field(default=0, ge=0, le=6)
    max_papers: int = Field(default=10, ge=validation.MIN_PAPERS, le=validation.MAX_PAPERS)


class PreferencesUpdate(Strict):
    keywords: Topics | None = None
    categories: Topics | None = None
    authors: Topics | None = None
    excludes: Topics | None = None
    sources: Topics | None = None
    include_news: bool | None = None
    locale: Language | None = None
    timezone: str | None = Field(default=None, max_length=64)
    send_hour: int | None = Field(default=None, ge=0, le=23)
    frequency: Literal["daily", "weekly"] | None = None
    weekday: int | None = Field(default=None, ge=0, le=6)
    max_papers: int | None = Field(default=None, ge=validation.MIN_PAPERS,
                                   le=validation.MAX_PAPERS)
    paused: bool | None = Field(default=None, description="true pauses, false resumes")


class Preferences(BaseModel):
    email: str
    status: str
    locale: str
    timezone: str
    send_hour: int
    frequency: str
    weekday: int
    max_papers: int
    include_news: bool = False
    keywords: list[str]
    categories: list[str]
    authors: list[str]
    excludes: list[str]
    sources: list[str] = []


class Accepted(BaseModel):
    status: Literal["check_inbox"] = "check_inbox"
    message: str = "If the address can receive our digest, a confirmation link is on its way."


class Status(BaseModel):
    status: str


class PaperCard(BaseModel):
    n: int
    heading: str
    id: str
    source: str
    category: str
    date: str
    title: str
    abstract: str
    url: str
    reasons: list[dict] = Field(default_factory=list,
                                description="why it matches, as data: kind, value, matched")
    why: str = Field("", description="the reasons in words, in the page's language")


class PreviewPage(BaseModel):
    page: int
    per_page: int
    has_more: bool
    papers: list[PaperCard]


def invalid(error: validation.InvalidInput) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", error.field], "type": error.key,
                                "msg": error.message}])


PreferencesLink = Annotated[Subscriber, LinkTo("preferences")]


def preferences_of(session, subscriber: Subscriber) -> Preferences:
    chosen = lifecycle.interests(session, subscriber)
    return Preferences(email=subscriber.email, status=subscriber.status,
                       **{k: getattr(subscriber, k) for k in validation.SCALARS},
                       **{k: chosen[k] for k in ("keywords", "categories", "authors", "excludes",
                                                   "sources")})


@router.post("/subscribe", status_code=202, response_model=Accepted,
             responses={422: {"description": "Invalid input"}, 429: {"description": "Too many"}})
def api_subscribe(body: SubscribeIn, request: Request,
                  background: BackgroundTasks) -> Accepted:
    """Start a double opt-in subscription. The answer is the same whoever the address is."""
    limits = request.app.state.rate_limits
    if not limits.allow_ip(client_ip(request)):
        raise HTTPException(429, "too many attempts, try again later")
    try:
        email = validation.normalize_email(body.email)
        fields = body.model_dump(exclude={"email"})
        validation.validate(fields)
        if not limits.allow_mailbox(email):
            raise HTTPException(429, "too many attempts, try again later")
    except validation.InvalidInput as error:
        raise invalid(error) from None
    background.add_task(notices.subscribe_in_background, email, fields, "api")  # after this
    return Accepted()


@router.get("/preview", response_model=PreviewPage)
def api_preview(
    request: Request,
    session: SessionDep,
    keywords: Annotated[list[str], Query(max_length=validation.MAX_TOPICS)] = [],  # noqa: B006
    categories: Annotated[list[str], Query(max_length=validation.MAX_TOPICS)] = [],  # noqa: B006
    authors: Annotated[list[str], Query(max_length=validation.MAX_TOPICS)] = [],  # noqa: B006
    excludes: Annotated[list[str], Query(max_length=validation.MAX_TOPICS)] = [],  # noqa: B006
    sources: Annotated[list[str], Query(max_length=validation.MAX_TOPICS)] = [],  # noqa: B006
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    per_page: Annotated[int, Query(ge=1, le=20)] = 5,
    lang: Annotated[str | None, Query(max_length=8,
                                      description="en | zh: the language of `why`")] = None,
) -> PreviewPage:
    """Recent papers matching a draft of topics, a page at a time ("show another batch")."""
    try:
        topics = {name: validation.clean_items(name, values) for name, values in (
            ("keywords", keywords), ("categories", categories), ("authors", authors),
            ("excludes", excludes), ("sources", sources))}
    except validation.InvalidInput as error:
        raise invalid(error) from None
    cards, has_more = preview(session, page=page, per_page=per_page, **topics)
    locale = page_locale(request)  # `lang`, else Accept-Language
    return PreviewPage(page=page, per_page=per_page, has_more=has_more,
                       papers=[PaperCard(heading=c.heading, why=reason_text(c.reasons, locale),
                                         **vars(c)) for c in cards])


@router.post("/confirm/{token}", response_model=Preferences,
             responses={400: {}, 409: {"description": "This link was used already"}})
def api_confirm(session: SessionDep, subscriber: Annotated[Subscriber, LinkTo("confirm")],
                background: BackgroundTasks) -> Preferences:
    """Confirm a pending subscription: once. A used link is a 409, and shows nothing."""
    if not lifecycle.activate(session, subscriber):
        raise HTTPException(409, "already confirmed")
    background.add_task(notices.after_confirm, subscriber.id)
    return preferences_of(session, subscriber)


@router.get("/preferences/{token}", response_model=Preferences, responses={400: {}})
def api_preferences(session: SessionDep, subscriber: PreferencesLink) -> Preferences:
    return preferences_of(session, subscriber)


@router.patch("/preferences/{token}", response_model=Preferences, responses={400: {}, 422: {}})
def api_update_preferences(body: PreferencesUpdate, session: SessionDep,
                           subscriber: PreferencesLink) -> Preferences:
    """Change only the fields given; `paused` pauses or resumes."""
    fields = body.model_dump(exclude_none=True, exclude={"paused"})
    active, paused = SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED
    allowed = {True: (active, paused), False: (active, paused, SubscriberStatus.UNSUBSCRIBED)}
    if body.paused is not None and subscriber.status not in allowed[body.paused]:
        key = "cannot_pause" if body.paused else "cannot_resume"
        raise invalid(validation.InvalidInput("paused", key))
    try:
        lifecycle.update_preferences(session, subscriber, **fields)
        if body.paused is True:
            lifecycle.pause(session, subscriber)
        elif body.paused is False:
            lifecycle.resume(session, subscriber)
    except validation.InvalidInput as error:
        raise invalid(error) from None
    return preferences_of(session, subscriber)


@router.delete("/preferences/{token}", response_model=Status, responses={400: {}})
def api_delete(session: SessionDep, subscriber: PreferencesLink) -> Status:
    """Delete everything about the subscriber; every link they hold stops working."""
    lifecycle.delete_data(session, subscriber)
    return Status(status="deleted")


@router.post("/unsubscribe/{token}", response_model=Status, responses={400: {}})
def api_unsubscribe(session: SessionDep,
                    subscriber: Annotated[Subscriber, LinkTo("unsubscribe")]) -> Status:
    subscriber = lifecycle.unsubscribe(session, subscriber, "api")
    return Status(status=subscriber.status)


@router.get("/export/{token}", responses={400: {}})
def api_export(session: SessionDep, subscriber: PreferencesLink) -> dict:
    """Everything we hold about the subscriber (the preferences link's token)."""
    return lifecycle.export_data(session, subscriber)
