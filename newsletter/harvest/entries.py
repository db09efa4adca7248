"""Fields out of feedparser entries, shared by every feed kind's parser: ids, DOIs, authors,
dates, categories. Pure helpers; `feeds.py` (arXiv, bioRxiv) and `journals.py` use them.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any

from newsletter.harvest.authors import split_authors
from newsletter.harvest.rawxml import NONE, ItemExtras
from newsletter.harvest.textclean import collapse

# arXiv identifiers: new style 2608.11232, old style hep-th/9711200 or math.GT/0309136.
_ARXIV_ID = re.compile(
    r"(?<![\w.])((?:[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})|(?:\d{4}\.\d{4,5}))(?:v(\d+))?(?![\d])"
)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>?#]+)", re.IGNORECASE)
# Identifier prefixes that say "this is a DOI" (dc:identifier `doi:`, `info:doi/`, resolvers).
DOI_MARKERS = ("doi:", "info:doi/", "doi.org/")


def arxiv_id(text: str | None) -> tuple[str, int] | None:
    """(`2608.11232`, version) from a guid, abs/pdf link or identifier; None if there is none."""
    match = _ARXIV_ID.search(text or "")
    if not match:
        return None
    return match.group(1), int(match.group(2) or 1)


def find_doi(text: str | None) -> str | None:
    """The first DOI in a field or link, lower-cased (DOIs are case-insensitive)."""
    match = _DOI.search(text or "")
    return match.group(1).rstrip(".,;").lower() if match else None


def parse_date(value: Any) -> dt.date | None:
    """The calendar date as written in the feed (no shift to UTC): ISO or RFC 822 dates."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if re.match(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    try:
        return email.utils.parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        return None


def doi_of(entry: Any, extra: ItemExtras = NONE) -> str | None:
    """The item's DOI: from a DOI field, else from the identifiers that say they are DOIs
    (`doi:`, `info:doi/`, a resolver URL), else from any identifier, id or link holding one.
    Every `dc:identifier` counts (`extra`), not only the one feedparser kept."""
    identifiers = list(extra.identifiers) or [entry.get("dc_identifier")]
    fields = [entry.get(key) for key in ("prism_doi", "arxiv_doi", "doi")]
    marked = [i for i in identifiers if _is_marked_doi(i)]
    others = [i for i in identifiers if i not in marked]
    loose = others + [entry.get(key) for key in ("id", "prism_url", "link")]
    for value in fields + marked + [v for v in loose if _may_hold_doi(v)]:
        if found := doi_in(value):
            return found
    return None


def doi_in(value: Any) -> str | None:
    """The first DOI written in `value` (bare, `doi:...`, a resolver URL), lower-cased; None
    for text that holds none (an author-typed field may hold prose or several DOIs)."""
    if isinstance(value, str) and (match := _DOI.search(value)):
        return match.group(1).rstrip(".,;").lower()
    return None


def _is_marked_doi(value: Any) -> bool:
    text = value.strip().lower() if isinstance(value, str) else ""
    return any(text.startswith(m) or f"//{m}" in text or f".{m}" in text for m in DOI_MARKERS)


def _may_hold_doi(value: Any) -> bool:
    return isinstance(value, str) and (
        "doi" in value.lower() or bool(re.match(r"\s*10\.\d{4,9}/", value))
    )


def authors_of(entry: Any, extra: ItemExtras) -> list[str]:
    """Structured author lists read from the raw XML win; otherwise feedparser's, one person
    per element when there are several, else one string that may list them all."""
    if extra.authors:
        return split_authors(extra.authors, single=True)
    found = names(entry)
    return split_authors(found, single=len(found) > 1)


def names(entry: Any) -> list[str]:
    return [a.get("name", "") for a in _author_dicts(entry)]


def _author_dicts(entry: Any) -> list[dict]:
    authors = entry.get("authors")
    if isinstance(authors, list) and authors:
        return [a for a in authors if isinstance(a, dict)]
    author = entry.get("author")
    return [{"name": author}] if isinstance(author, str) and author else []


def terms(entry: Any) -> list[str]:
    found: list[str] = []
    for tag in entry.get("tags") or []:
        term = collapse(tag.get("term") or "")
        if term and term not in found:
            found.append(term)
    return found


def lower(value: Any) -> str | None:
    return collapse(str(value)).lower() or None if value else None


def as_int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
