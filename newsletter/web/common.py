"""What every page shares: DB session dependency, rendering with CSRF, forms, locales.

`render` sets the CSRF cookie on first visit and puts the matching signed token in the
template context; `read_form` turns a form body into plain strings and topic lists (or
None when the body is unusable, which the caller answers with a 400 page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from newsletter.core import links
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
    ctx.update(locale=locale, csrf=security.csrf_token_for(secret),
               other_locales=[(code, tr.language_name(code))
                              for code in i18n.LOCALES if code != locale])
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if fresh:
        response.set_cookie(security.CSRF_COOKIE, secret, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
    return response


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
    body = (tr.gettext("This link has expired. Subscribe again to receive a new one.")
            if "expired" in str(error) else
            tr.gettext("This link is not valid: it may be incomplete, or it was replaced by a "
                       "newer one."))
    return message_page(request, locale, tr.gettext("This link does not work"), body, 400,
                        home=True)


def split_lines(value: str, *, commas: bool = False) -> list[str]:
    parts = re.split(r"[\r\n,;，；]+" if commas else r"[\r\n]+", value)
    return [p.strip() for p in parts if p.strip()]


async def read_form(request: Request) -> dict[str, Any] | None:
    """Form fields as strings (lists split into items); None when the body is unusable."""
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001  malformed multipart, too many fields ...
        return None
    data: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        if not all(isinstance(v, str) for v in values):
            return None  # file uploads have no place here
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


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
