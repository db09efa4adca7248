"""Titles that keep their chemistry and maths: a tiny allow-list of inline markup.

Journal feeds write `La<sub>4</sub>Ni<sub>3</sub>O<sub>10</sub>` and `<i>cis</i>-selective` in
their titles. Shown as escaped tags the title is unreadable; shown raw it is an injection hole.
`title_markup` keeps only sub, sup, i and b (no attributes) through nh3, the Rust html5ever
sanitiser, and escapes everything else; `safe_markup` applies the same allow-list again when a
stored value is rendered, so the database is never trusted to hold safe HTML. The plain text
(`La4Ni3O10`, for the text part and subject lines) comes from `textclean.clean_text`.
"""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup

ALLOWED = frozenset({"sub", "sup", "i", "b"})
_ALLOWED_TAG = re.compile(r"<\s*/?\s*(?:sub|sup|i|b)\b", re.IGNORECASE)
_EQUIVALENT = ((re.compile(r"<(/?)em\b[^>]*>", re.I), r"<\1i>"),
               (re.compile(r"<(/?)strong\b[^>]*>", re.I), r"<\1b>"))
_EMPTY = re.compile(r"<(sub|sup|i|b)>\s*</\1>")
_SPACE = re.compile(r"\s+")


def title_markup(raw: str | None) -> str | None:
    """Safe HTML keeping sub/sup/i/b, or None when the raw title has none of them (the plain
    text is then all there is to show)."""
    if not raw or "<" not in raw:
        return None
    for pattern, replacement in _EQUIVALENT:
        raw = pattern.sub(replacement, raw)
    if not _ALLOWED_TAG.search(raw):
        return None
    cleaned = _EMPTY.sub("", sanitize(raw))
    cleaned = _SPACE.sub(" ", cleaned).strip()
    return cleaned if _ALLOWED_TAG.search(cleaned) else None


def sanitize(html: str) -> str:
    """Only sub/sup/i/b survive, without attributes; all other text is escaped."""
    return nh3.clean(html, tags=set(ALLOWED), attributes={}, strip_comments=True,
                     link_rel=None)


def safe_markup(stored: str | None, plain: str) -> Markup:
    """What a card shows: the sanitised markup if there is one, else the escaped plain text."""
    return Markup(sanitize(stored)) if stored else Markup.escape(plain)
