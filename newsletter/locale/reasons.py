"""Why a paper was picked, in words: structured reasons in, one line in the reader's language.

The ranking stores reasons as data (`newsletter.ranking.reasons`: kind, value, matched words,
gloss, a paper they point at); the email, its text part, the web pages and `preview
--explain` word them here, when they are shown, through the gettext catalog. Each kind is
one entry in `WORDS`; a kind without one is skipped, so a row stored by a newer version
never breaks an older one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from newsletter.locale.i18n import DEFAULT_LOCALE, Translator, translator

__all__ = ["SHOWN_REASONS", "WORDS", "reason_text"]

SHOWN_REASONS = 3  # an email card has room for this many; the rest stay stored

Reason = Mapping[str, Any]  # the stored form: {"kind", "value", "matched", "gloss", "paper"}


def _name(reason: Reason) -> str:
    """A followed author as the paper spells the name (as typed, if the paper's is unknown)."""
    matched = reason.get("matched") or ()
    return str(matched[0]) if matched else str(reason.get("value") or "")


def _topic(tr: Translator, reason: Reason) -> str:
    """The topic as typed, quoted, with the English rendering of a topic typed in Chinese."""
    value, gloss = reason.get("value") or "", reason.get("gloss")
    if gloss:
        return tr.gettext("'%(value)s' (%(gloss)s)", value=value, gloss=gloss)
    return tr.gettext("'%(value)s'", value=value)


def _close_to(tr: Translator, paper: Mapping[str, Any]) -> str:
    """The nearest of the subscriber's own (library or liked) papers, by title and year."""
    if paper.get("year"):
        return tr.gettext("close to your paper “%(title)s” (%(year)s)",
                          title=paper.get("title") or "", year=paper["year"])
    return tr.gettext("close to your paper “%(title)s”", title=paper.get("title") or "")


# kind -> its words. The kinds and their fields: newsletter/ranking/reasons.py.
WORDS: dict[str, Callable[[Translator, Reason], str]] = {
    "author": lambda tr, r: tr.gettext("by %(value)s", value=_name(r)),
    "title": lambda tr, r: tr.gettext("matches %(topic)s in the title", topic=_topic(tr, r)),
    "abstract": lambda tr, r: tr.gettext("matches %(topic)s in the abstract",
                                         topic=_topic(tr, r)),
    "words": lambda tr, r: tr.gettext("mentions the words of %(topic)s", topic=_topic(tr, r)),
    "partial": lambda tr, r: tr.gettext("partly matches %(topic)s", topic=_topic(tr, r)),
    "category": lambda tr, r: tr.pgettext("reason: an arXiv category", "%(value)s",
                                          value=r.get("value") or ""),
    "source": lambda tr, r: tr.gettext("from %(value)s", value=r.get("value") or ""),
    "feedback": lambda tr, r: tr.gettext("like papers you asked for more of"),
    "recent": lambda tr, r: tr.gettext("recent paper"),
    "similar": lambda tr, r: _close_to(tr, r.get("paper") or {}),
}


def reason_text(reasons: Iterable[Any], locale: str | None = DEFAULT_LOCALE, *,
                limit: int = SHOWN_REASONS) -> str:
    """The first `limit` reasons in words: "by Torsten Schön; matches 'x' in the title" /
    "关注的作者 Torsten Schön；标题匹配“x”". Each reason is its stored dict (DigestItem.reasons)
    or anything with `as_dict()` (a `ranking.reasons.Reason`)."""
    tr = translator(locale)
    words: list[str] = []
    for reason in reasons:
        data = reason if isinstance(reason, Mapping) else reason.as_dict()
        wording = WORDS.get(data.get("kind"))
        if wording is None:
            continue
        words.append(wording(tr, data))
        if len(words) == limit:
            break
    return tr.pgettext("reasons separator", "; ").join(words)
