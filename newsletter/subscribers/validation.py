"""What a subscriber may ask for: the checks every door (web form, JSON API, CLI) shares.

`validate(fields)` cleans a dict of preference fields or raises `InvalidInput(field, key)` on
the first bad one; `normalize_email` and `clean_items` are its parts that the pages also
call alone. The key names the message (stable: the JSON API returns it as the error type);
its words live in the locale catalog, worded in the reader's language by
`InvalidInput.text(locale)`, with the limits below filled in, never typed in a sentence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from email_validator import EmailNotValidError, validate_email

from newsletter.core.models import InterestKind
from newsletter.core.text import author_key
from newsletter.harvest.sources import catalogue_spec
from newsletter.locale import i18n
from newsletter.locale.i18n import lazy

FREQUENCIES = ("daily", "weekly")
MAX_TOPICS = 30
MAX_TOPIC_CHARS = 100
MIN_PAPERS, MAX_PAPERS = 5, 15
# cs.CL, math.AP, astro-ph.GA, hep-th, cond-mat.mes-hall, physics.optics, q-bio.NC ...
CATEGORY = re.compile(r"^[a-z]{1,8}(-[a-z]{2,5})?(\.[A-Za-z]{2,12}(-[a-z]{2,8})?)?$")
FORBIDDEN = re.compile(r"[<>\x00-\x1f\x7f\ud800-\udfff\ufffd]")  # markup, controls, bad UTF-8

MESSAGES: dict[str, i18n.Message] = {
    "email_required": lazy.gettext("Please enter your email address."),
    "email_invalid": lazy.gettext("This email address is not valid."),
    "email_header": lazy.gettext("An email address cannot contain line breaks."),
    "too_many_topics": lazy.ngettext("At most %(num)s topic, please.",
                                     "At most %(num)s topics, please.", MAX_TOPICS),
    "topic_too_long": lazy.ngettext("Each topic can be at most %(num)s character.",
                                    "Each topic can be at most %(num)s characters.",
                                    MAX_TOPIC_CHARS),
    "topic_markup": lazy.gettext("Topics cannot contain <, > or control characters."),
    "category_invalid": lazy.gettext(
        "“%(value)s” does not look like an arXiv category (such as cs.CL)."),
    "source_unknown": lazy.gettext(
        "“%(value)s” is not a journal or preprint server we carry."),
    "news_invalid": lazy.gettext("Journal news must be yes or no."),
    "locale_invalid": lazy.gettext("Language must be %(choices)s."),
    "timezone_invalid": lazy.gettext(
        "“%(value)s” is not a known time zone (such as Europe/Paris)."),
    "hour_invalid": lazy.gettext("Delivery hour must be a whole number from 0 to 23."),
    "frequency_invalid": lazy.gettext("Frequency must be daily or weekly."),
    "weekday_invalid": lazy.gettext("Weekday must be 0 (Monday) to 6 (Sunday)."),
    "max_papers_invalid": lazy.gettext("Papers per email must be from %(min)s to %(max)s.",
                                       min=MIN_PAPERS, max=MAX_PAPERS),
    "unknown_field": lazy.gettext("Unknown preference “%(value)s”."),
    "cannot_pause": lazy.gettext("Only an active subscription can be paused."),
    "cannot_resume": lazy.gettext("This subscription cannot be resumed here."),
}


class InvalidInput(ValueError):
    """Bad user input: `field` names the form field, `key` the message in `MESSAGES`.
    `str(error)` is "field: message" in English, for the CLI and logs."""

    def __init__(self, field: str, key: str, **params: Any) -> None:
        self.field, self.key, self.params = field, key, params
        super().__init__(f"{field}: {self.message}")

    @property
    def message(self) -> str:
        return self.text(i18n.DEFAULT_LOCALE)

    def text(self, locale: str | None) -> str:
        """The message in the reader's language."""
        tr = i18n.translator(locale)
        params = {name: tr.or_list(value) if isinstance(value, tuple) else value
                  for name, value in self.params.items()}
        return MESSAGES[self.key].text(locale, **params)


def normalize_email(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("email", "email_required")
    if any(c in raw for c in "\r\n\x00"):
        raise InvalidInput("email", "email_header")
    if len(raw) > 320:
        raise InvalidInput("email", "email_invalid")
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except (EmailNotValidError, UnicodeError) as error:
        raise InvalidInput("email", "email_invalid") from error
    return result.normalized.lower()


# Confirmations (and "already subscribed" notices) per mailbox: the subscribe forms' cap.
MAILBOX_PER_HOUR, MAILBOX_PER_DAY = 3, 6
GMAIL = ("gmail.com", "googlemail.com")


def mailbox_key(email: str) -> str:
    """The inbox an address delivers to, for rate limits only (mail still goes to the address
    as typed): `ada+news@x` is `ada@x`, and Gmail ignores dots and has two domain names."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), GMAIL[0]
    return f"{local}@{domain}"


@lru_cache(maxsize=1)
def timezones() -> frozenset[str]:
    """IANA zone names: the list the tzdata package ships, less IANA's "Factory" placeholder
    ("local time zone must be set"). Not `zoneinfo.available_timezones()`, which also offers
    the host's `localtime` (whatever the server's zone is) and, on some systems,
    `posixrules`: a subscriber's zone must mean the same place on every machine."""
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - {"Factory"}


def _timezone(value: Any) -> str:
    if isinstance(value, str) and value.strip() in timezones():
        return value.strip()
    raise InvalidInput("timezone", "timezone_invalid", value=str(value)[:64])


def _int_in(field: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise InvalidInput(field, key)
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(field, key) from None
    if isinstance(value, float) and value != number:
        raise InvalidInput(field, key)
    if not low <= number <= high:
        raise InvalidInput(field, key)
    return number


def _choice(field: str, key: str, value: Any, allowed: tuple[str, ...], **params: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise InvalidInput(field, key, **params)


def _yes_no(field: str, value: Any) -> bool:
    """A checkbox or JSON boolean: true/false, or the usual words for them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _YES + _NO:
        return value.strip().lower() in _YES
    raise InvalidInput(field, "news_invalid")


def clean_items(field: str, values: Any) -> list[str]:
    """Trim, collapse spaces, refuse markup and overlong items, drop duplicates: one person
    typed twice ('Schon, Torsten' and 'Torsten Schön') is one followed author, the first
    spelling kept, by the same author key the ranking matches with."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise InvalidInput(field, "topic_markup")
    items: list[str] = []
    seen: set[str] = set()
    for raw in values:
        if not isinstance(raw, str):
            raise InvalidInput(field, "topic_markup")
        if len(raw) > 10 * MAX_TOPIC_CHARS:  # do not even normalize huge input
            raise InvalidInput(field, "topic_too_long")
        value = " ".join(unicodedata.normalize("NFC", raw).split())
        if not value:
            continue
        if FORBIDDEN.search(value):
            raise InvalidInput(field, "topic_markup")
        if len(value) > MAX_TOPIC_CHARS:
            raise InvalidInput(field, "topic_too_long")
        if field == "categories" and not CATEGORY.match(value):
            raise InvalidInput(field, "category_invalid", value=value[:40])
        if field == "sources":  # a catalogue name or label ("Nature"): stored as the name
            spec = catalogue_spec(value)
            if spec is None:
                raise InvalidInput(field, "source_unknown", value=value[:40])
            value = spec.name
        key = author_key(value) if field == "authors" else value.casefold()
        if key not in seen:
            seen.add(key)
            items.append(value)
        if len(items) > MAX_TOPICS:
            raise InvalidInput(field, "too_many_topics")
    return items


KIND_OF = {"keywords": InterestKind.KEYWORD, "categories": InterestKind.CATEGORY,
           "authors": InterestKind.AUTHOR, "excludes": InterestKind.EXCLUDE,
           "sources": InterestKind.SOURCE}
SCALARS = ("locale", "timezone", "send_hour", "frequency", "weekday", "max_papers",
           "include_news")
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def validate(fields: dict[str, Any]) -> dict[str, Any]:
    """Check every field given; returns cleaned values. Raises on the first bad one."""
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name in KIND_OF:
            clean[name] = clean_items(name, value)
        elif name == "locale":  # the languages whose catalogs ship
            clean[name] = _choice(name, "locale_invalid", value, i18n.LOCALES,
                                  choices=i18n.LOCALES)
        elif name == "timezone":
            clean[name] = _timezone(value)
        elif name == "send_hour":
            clean[name] = _int_in(name, "hour_invalid", value, 0, 23)
        elif name == "frequency":
            clean[name] = _choice(name, "frequency_invalid", value, FREQUENCIES)
        elif name == "weekday":
            clean[name] = _int_in(name, "weekday_invalid", value, 0, 6)
        elif name == "include_news":
            clean[name] = _yes_no(name, value)
        elif name == "max_papers":
            clean[name] = _int_in(name, "max_papers_invalid", value, MIN_PAPERS, MAX_PAPERS)
        else:
            raise InvalidInput(name, "unknown_field", value=name[:40])
    topics = sum(len(clean.get(k, [])) for k in ("keywords", "categories", "authors"))
    if topics > MAX_TOPICS:
        raise InvalidInput("keywords", "too_many_topics")
    return clean
