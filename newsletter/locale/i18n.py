"""The one lookup of user-facing words: gettext catalogs managed with Babel, one per language.

Every string a reader sees (emails, pages, validation messages, notes) is an English msgid
in `newsletter/locale/<lang>/LC_MESSAGES/messages.po`, compiled to `.mo` (shipped as package
data). Python code asks a `Translator` (`translator(locale).gettext("Abstract")`); Jinja
templates call `_()` / `ngettext()` through `install(env)`, which translates into the
`locale` variable of each render. Tables built before a reader is known mark their messages
with `lazy.gettext` / `lazy.ngettext` and word them later with `Message.text(locale)`.

Placeholders are Python's `%(name)s` (what Jinja's newstyle gettext uses too), so Babel's
checks and `msgfmt -c` compare them between msgid and translation; a literal percent sign
is `%%`. Counts go through `ngettext` with the language's own plural rules, and reach the
sentence as `%(num)s`, formatted by Babel for the language; dates are Babel's too.

A language is registered by its compiled catalog being present (see README, "Languages").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, get_day_names
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).parent
DOMAIN = "messages"
DEFAULT_LOCALE = "en"  # the language of the msgids: its catalog may leave them untranslated
HTML_LANG = {"zh": "zh-CN"}  # the html lang attribute where it is more than the code


def _registered(root: Path = LOCALE_DIR) -> tuple[str, ...]:
    """The languages whose compiled catalog ships, the default first."""
    found = {path.parents[1].name for path in root.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return (DEFAULT_LOCALE, *sorted(found - {DEFAULT_LOCALE}))


LOCALES = _registered()


def normalize_locale(locale: str | None) -> str:
    """'zh-CN', 'zh_Hans', 'ZH' -> 'zh'; anything not registered -> 'en'."""
    base = (locale or "").replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def pick_locale(requested: str | None, accept_language: str | None = None) -> str:
    """The language asked for if we speak it, else the first of the browser's that we do."""
    if requested in LOCALES:
        return requested
    for part in (accept_language or "").split(","):  # in the browser's order of preference
        tag = part.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if tag in LOCALES:
            return tag
    return DEFAULT_LOCALE


def html_lang(locale: str | None) -> str:
    locale = normalize_locale(locale)
    return HTML_LANG.get(locale, locale)


class Translator:
    """One language's catalog, plural rules and Babel formats."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.babel = Locale.parse(locale)
        self.translations: NullTranslations = Translations.load(LOCALE_DIR, [locale], DOMAIN)

    def _format(self, text: str, fallback: str, params: dict) -> str:
        try:
            return text % params
        except (KeyError, ValueError, TypeError):  # a broken translation must not stop a send
            log.error("catalog %s: cannot format %r; using the English text", self.locale, text)
            return fallback % params

    def gettext(self, message: str, **params: object) -> str:
        return self._format(self.translations.gettext(message), message, params)

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        """The form for `n` under this language's plural rules; `%(num)s` is n, formatted."""
        params.setdefault("num", self.number(n))
        return self._format(self.translations.ngettext(singular, plural, n),
                            singular if n == 1 else plural, params)

    def pgettext(self, context: str, message: str, **params: object) -> str:
        return self._format(self.translations.pgettext(context, message), message, params)

    def number(self, n: int | float) -> str:
        return _number(self.locale, n)

    def date(self, day: dt.date, style: str = "long") -> str:
        """'long': Thursday, November 26, 2026 / 2026年11月26日星期四 (the header band);
        'short': Nov 26 / 11月26日 (subject lines)."""
        return _date(self.locale, day, style)

    def weekdays(self) -> list[str]:
        """Monday first, as `date.weekday()` counts."""
        return [get_day_names("wide", locale=self.babel)[i] for i in range(7)]

    def join(self, items: Iterable[str], *, conjunction: bool = False) -> str:
        """An enumeration: 'a, b, c' / 'a、b、c'; with `conjunction`, 'a, b and c' / 'a、b、c'.
        (Babel's CLDR list patterns would say 'a、b和c': the catalog keeps our own style.)"""
        items = list(items)
        separator = self.pgettext("list separator", ", ")
        if not conjunction or len(items) < 2:
            return separator.join(items)
        last = self.pgettext("list separator before the last item", " and ")
        return separator.join(items[:-1]) + last + items[-1]

    def or_list(self, items: Sequence[str]) -> str:
        """'a, b, or c' / 'a、b或c'."""
        return format_list(list(items), style="or", locale=self.babel)

    def language_name(self, code: str) -> str:
        """A language as its own speakers write it: 'English', '中文'."""
        try:
            return Locale.parse(code).display_name or code
        except (ValueError, UnknownLocaleError):
            return code


# Babel parses its number and date patterns on every call (most of a card's wording cost);
# an email's counts and dates repeat across cards and digests, so their words are kept.
@lru_cache(maxsize=4096)
def _number(locale: str, n: int | float) -> str:
    return format_decimal(n, locale=locale)


@lru_cache(maxsize=1024)
def _date(locale: str, day: dt.date, style: str) -> str:
    if style == "short":
        return format_skeleton("MMMd", day, locale=locale)
    return format_date(day, "full", locale=locale)


@lru_cache(maxsize=64)
def translator(locale: str | None = DEFAULT_LOCALE) -> Translator:
    return Translator(normalize_locale(locale))


# --- messages marked where no reader is known yet -----------------------------------------

@dataclass(frozen=True)
class Message:
    """A message in the catalog, worded later in the reader's language. `params` are fixed
    when it is marked (limits from constants); more come with each `text` call."""

    singular: str
    plural: str | None = None
    n: int = 1
    params: dict = field(default_factory=dict)

    def text(self, locale: str | None = DEFAULT_LOCALE, **params: object) -> str:
        tr = translator(locale)
        params = {**self.params, **params}
        if self.plural is None:
            return tr.gettext(self.singular, **params)
        return tr.ngettext(self.singular, self.plural, self.n, **params)


class lazy:  # noqa: N801  reads as the call it marks: lazy.gettext("..."), which pybabel finds
    @staticmethod
    def gettext(message: str, **params: object) -> Message:
        return Message(message, params=params)

    @staticmethod
    def ngettext(singular: str, plural: str, n: int, **params: object) -> Message:
        return Message(singular, plural, n, params)


# --- templates ----------------------------------------------------------------------------

def _locale_of(context: Context) -> str | None:
    return context.get("locale")


@pass_context
def _jinja_gettext(context: Context, message: str) -> str:
    return translator(_locale_of(context)).translations.gettext(message)


@pass_context
def _jinja_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translator(_locale_of(context)).translations.ngettext(singular, plural, n)


@pass_context
def _jinja_pgettext(context: Context, where: str, message: str) -> str:
    return translator(_locale_of(context)).translations.pgettext(where, message)


@pass_context
def _jinja_number(context: Context, n: int | float) -> str:
    return translator(_locale_of(context)).number(n)


def install(env: Environment) -> None:
    """Jinja's i18n extension on `env`, translating into each render's `locale` variable
    (newstyle: `_("Sent to %(email)s.", email=email)`, variables escaped in HTML).
    In a plural, pass `num=n|number` for a Babel-formatted count."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _jinja_gettext, _jinja_ngettext, newstyle=True, pgettext=_jinja_pgettext)
    env.filters["number"] = _jinja_number
