"""What every page shares: the DB session and signed-link dependencies, rendering with
CSRF, forms, locales.

`SessionDep` is the one session per request (pages, API, webhooks, admin). `LinkTo(purpose)`
turns the `{token}` of a signed link into its subscriber, or raises `BadLink`, which the app
answers with a page saying why (JSON under /api/). `render` sets the CSRF cookie on first
visit, puts the matching signed token in the template context and builds the language links
from the matched route, never from the raw request path (`//evil.example` is a path too).
`read_form` turns a form body into plain strings and topic lists, or None when the body is
unusable, invalid UTF-8 included, which the caller answers with a 400 page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.routing import NoMatchFound

from newsletter.core import links
from newsletter.core.config import get_settings
from newsletter.core.db import get_engine
from newsletter.core.models import Subscriber
from newsletter.harvest.sources import journal_catalogue, source_label
from newsletter.locale import i18n
from newsletter.locale.i18n import lazy
from newsletter.subscribers import lifecycle, validation
from newsletter.web import security
from newsletter.web.categories import ARXIV_CATEGORIES

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
i18n.install(templates.env)  # _() in the pages translates into the context's `locale`
TOPIC_FIELDS = ("keywords", "categories", "authors", "sources")
# The catalogue's fields (harvest/data/sources.toml), as the journal search shows them.
FIELD_NAMES = {
    "multidisciplinary": lazy.gettext("Multidisciplinary"),
    "life sciences": lazy.gettext("Life sciences"),
    "medicine": lazy.gettext("Medicine"),
    "chemistry": lazy.gettext("Chemistry"),
    "physics": lazy.gettext("Physics"),
    "computer science": lazy.gettext("Computer science"),
    "earth & environment": lazy.gettext("Earth & environment"),
    "preprints": lazy.gettext("Preprints"),
}


def field_name(field: str, locale: str) -> str:
    return FIELD_NAMES[field].text(locale) if field in FIELD_NAMES else field
LIST_FIELDS = (*TOPIC_FIELDS, "excludes")


def get_session() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class BadLink(Exception):
    """A signed link that does not open anything; the app answers it (see `app.bad_link`)."""

    def __init__(self, error: links.InvalidToken) -> None:
        super().__init__(str(error))
        self.error = error


def LinkTo(purpose: str) -> Any:  # noqa: N802  reads as a type: Annotated[Subscriber, LinkTo(..)]
    """The dependency that opens a `{token}` path parameter signed for `purpose`."""

    def subscriber(token: str, session: SessionDep) -> Subscriber:
        try:
            return lifecycle.subscriber_from_token(session, purpose, token)
        except links.InvalidToken as error:
            raise BadLink(error) from None

    return Depends(subscriber)


# --- helpers ----------------------------------------------------------------------------

ERRORS = {  # what an error page says, by the key callers name it with
    "bad_request": lazy.gettext("This request could not be understood."),
    "csrf_failed": lazy.gettext("This form has expired. Reload the page and try again."),
    "rate_limited": lazy.gettext("Too many attempts. Please try again in a while."),
    "not_found": lazy.gettext("Nothing here."),
    "server_error": lazy.gettext("Something went wrong on our side. Please try again later."),
}


def page_locale(request: Request, default: str | None = None) -> str:
    asked = request.query_params.get("lang")
    if asked in i18n.LOCALES:
        return asked
    return i18n.pick_locale(default, request.headers.get("accept-language"))


def render(request: Request, name: str, locale: str, status: int = 200, **ctx: Any) -> Response:
    """A page with the CSRF cookie set (created on first visit) and its token in context."""
    secret = request.cookies.get(security.CSRF_COOKIE)
    fresh = not secret or len(secret) > 100
    if fresh:
        secret = security.new_csrf_secret()
    tr = i18n.translator(locale)
    here = route_path(request)
    ctx.update(locale=locale, csrf=security.csrf_token_for(secret),
               other_locales=[(code, tr.language_name(code), f"{here}?lang={code}")
                              for code in i18n.LOCALES if code != locale])
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if fresh:
        response.set_cookie(security.CSRF_COOKIE, secret, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
    return response


def route_path(request: Request) -> str:
    """This page's path as the app builds it for the matched route (a GET page), else "/"."""
    route = request.scope.get("route")
    if request.method != "GET" or route is None:
        return "/"
    try:
        return str(request.app.url_path_for(route.name, **request.path_params))
    except NoMatchFound:
        return "/"


def message_page(request: Request, locale: str, title: str, body: str, status: int = 200,
                 **extra: Any) -> Response:
    return render(request, "message.html", locale, status, title=title, body=body, **extra)


def error_page(request: Request, key: str, status: int, locale: str | None = None) -> Response:
    locale = locale or page_locale(request)
    return message_page(request, locale, i18n.translator(locale).gettext("Something is wrong"),
                        ERRORS[key].text(locale), status, home=True)


def token_error(request: Request, error: links.InvalidToken) -> Response:
    locale = page_locale(request)
    tr = i18n.translator(locale)
    if error.expired and error.purpose in links.EXPIRING:  # offer a fresh one by email
        return render(request, "new_link.html", locale, 400, expired=error.purpose,
                      link_days=get_settings().preferences_link_days, errors={})
    body = (tr.gettext("This link has expired. Subscribe again to receive a new one.")
            if error.expired else
            tr.gettext("This link is not valid: it may be incomplete, or it was replaced by a "
                       "newer one."))
    return message_page(request, locale, tr.gettext("This link does not work"), body, 400,
                        home=True)


def split_lines(value: str, *, commas: bool = False) -> list[str]:
    parts = re.split(r"[\r\n,;，；]+" if commas else r"[\r\n]+", value)
    return [p.strip() for p in parts if p.strip()]


MAX_FIELDS = 200


async def _fields(request: Request) -> list[tuple[str, Any]] | None:
    """The body's (name, value) pairs, or None. Starlette decodes what is not UTF-8 as
    Latin-1 without a word (`raw\xff@x` would become `rawÿ@x`): a urlencoded body is parsed
    here strictly instead, and a multipart one (no files here) must be UTF-8 throughout."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    try:
        if content_type == "application/x-www-form-urlencoded":
            return parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                             errors="strict", max_num_fields=MAX_FIELDS)
        body.decode("utf-8")
        form = await request.form(max_fields=MAX_FIELDS)
        return list(form.multi_items())
    except Exception:  # noqa: BLE001  bad UTF-8, malformed multipart, too many fields ...
        return None


async def read_form(request: Request) -> dict[str, Any] | None:
    """Form fields as strings (lists split into items); None when the body is unusable."""
    pairs = await _fields(request)
    if pairs is None or not all(isinstance(v, str) for _, v in pairs):
        return None  # unreadable, or file uploads, which have no place here
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    data: dict[str, Any] = {}
    for key, values in grouped.items():
        if key in LIST_FIELDS:
            data[key] = [i for v in values for i in split_lines(v, commas=key == "excludes")]
        else:
            data[key] = values[-1]
    return data


# Read the body on the event loop, then run the (blocking: database, SMTP, ranking) handler
# in the thread pool: a handler declared `def` with this dependency never stalls the server.
FormDep = Annotated[dict[str, Any] | None, Depends(read_form)]


def form_values(data: dict[str, Any]) -> dict[str, Any]:
    """What to put back in the form after an error (lists as lines)."""
    values = {k: v for k, v in data.items() if k not in LIST_FIELDS and k != "csrf_token"}
    for key in LIST_FIELDS:
        values[key] = "\n".join(data.get(key, []))
    values["excludes"] = ", ".join(data.get("excludes", []))
    return values


def form_context(values: dict[str, Any], errors: dict[str, str], locale: str) -> dict[str, Any]:
    tr = i18n.translator(locale)
    return {"values": values, "errors": errors, "categories": ARXIV_CATEGORIES,
            "journals": [(j.label, field_name(j.field, locale)) for j in journal_catalogue()],
            "timezones": sorted(validation.timezones()), "hours": range(24),
            "languages": [(code, tr.language_name(code)) for code in i18n.LOCALES],
            "weekdays": tr.weekdays(), "min_papers": validation.MIN_PAPERS,
            "max_papers": validation.MAX_PAPERS}


def subscriber_values(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    chosen = lifecycle.interests(session, subscriber)
    values = {k: getattr(subscriber, k) for k in validation.SCALARS}
    values.update({k: "\n".join(chosen[k]) for k in TOPIC_FIELDS})
    values["sources"] = "\n".join(source_label(name) for name in chosen["sources"])
    values["excludes"] = ", ".join(chosen["excludes"])
    values["email"] = subscriber.email
    return values


def csrf_ok(request: Request, data: dict[str, Any]) -> bool:
    return security.csrf_valid(request.cookies.get(security.CSRF_COOKIE), data.get("csrf_token"))


def refused_form(request: Request, data: dict[str, Any] | None, locale: str) -> Response | None:
    """The answer to a POST that cannot be used: an unreadable body (400) or a failed CSRF
    check (403); None when the form may be used."""
    if data is None:
        return error_page(request, "bad_request", 400, locale)
    if not csrf_ok(request, data):
        return error_page(request, "csrf_failed", 403, locale)
    return None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
