"""Parse feed bytes into normalized papers: pure functions, no network, no database.

`parse(kind, data)` reads arXiv RSS (rss.arxiv.org), the arXiv API (Atom), bioRxiv/medRxiv
(api.biorxiv.org JSON or their RSS 1.0) and generic journal feeds (RSS 2.0, RSS 1.0/RDF with
PRISM and Dublin Core, Atom). Every paper gets a canonical id: `arxiv:<id without version>`,
else `doi:<lower-cased doi>`, else `url:<link>`, so the store can collapse versions and merge
the same paper seen through two sources. Error documents (arXiv's error entry, HTML pages,
garbage) raise `FeedError`; a valid feed with no entries is simply `[]`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import json
import logging
import re
from typing import Any

import feedparser
from pydantic import ValidationError

from newsletter.core.models import PaperBase
from newsletter.harvest.textclean import clean_text, collapse

log = logging.getLogger(__name__)

KINDS = ("arxiv_rss", "arxiv_api", "biorxiv", "rss")


class FeedError(Exception):
    """A response that is not a usable feed; the message says why, for Source.last_error."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# arXiv identifiers: new style 2608.11232, old style hep-th/9711200 or math.GT/0309136.
_ARXIV_ID = re.compile(
    r"(?<![\w.])((?:[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})|(?:\d{4}\.\d{4,5}))(?:v(\d+))?(?![\d])"
)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>?#]+)", re.IGNORECASE)
_ANNOUNCE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(\S+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
_BIORXIV_VERSION = re.compile(r"/((?:\d{4}\.\d{2}\.\d{2}\.)?\d{6,})v(\d+)")
_INITIALS = re.compile(r"^(?:[A-Z][a-z]?\.[\s-]*)+$|^(?:Jr|Sr|II|III|IV)\.?$")
_NAME_SEPARATOR = re.compile(r"[,;](?![^()]*\))")  # not inside "(Univ., City)" affiliations
_BOILERPLATE = re.compile(
    r"<p>\s*(?:[^<]{0,120}Published online:|Publication date:|<b>Source:</b>|Author\(s\):).*?</p>",
    re.IGNORECASE | re.DOTALL,
)
_ELSEVIER_AUTHORS = re.compile(r"Author\(s\):\s*(.*?)</p>", re.IGNORECASE | re.DOTALL)
_TRACKING = re.compile(r"[?&](?:rss=1|af=R|dgcid=[^&]*|utm_[a-z]+=[^&]*)", re.IGNORECASE)


def parse(kind: str, data: bytes, *, source: str | None = None) -> list[PaperBase]:
    """Normalized papers from one feed document of the given kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}; expected one of {', '.join(KINDS)}")
    data = _unwrap_recorded(data)
    if kind == "biorxiv" and data.lstrip()[:1] in (b"{", b"["):
        return _parse_biorxiv_json(data, source)
    feed = _feedparse(data)
    handler = {"arxiv_rss": _arxiv_rss, "arxiv_api": _arxiv_api, "biorxiv": _biorxiv_rss}.get(
        kind, _journal
    )
    papers = []
    for entry in feed.entries:
        try:
            paper = handler(entry, feed.feed, source)
        except ValidationError as error:  # one odd entry must not cost the whole feed
            log.warning("skipped a feed entry that does not normalize: %s", error)
            continue
        if paper is not None:
            papers.append(paper)
    return papers


# -- documents --------------------------------------------------------------------------------


def _unwrap_recorded(data: bytes) -> bytes:
    """Accept a recorded HTTP exchange `{"url", "status_code", "body"}` as its body."""
    if data.lstrip()[:1] == b"{" and b'"body"' in data[:200_000]:
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        if isinstance(doc, dict) and isinstance(doc.get("body"), str) and "status_code" in doc:
            return doc["body"].encode("utf-8")
    return data


def _feedparse(data: bytes) -> Any:
    if not data.strip():
        raise FeedError("empty response: no feed document")
    # A stream, never bytes/str: feedparser would treat a string as a URL or file name to open.
    feed = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    if not feed.get("version"):
        head = data[:4096].lower()
        if b"<html" in head or b"<!doctype html" in head:
            title = re.search(rb"<title[^>]*>(.*?)</title>", data[:8192], re.I | re.S)
            label = collapse(title.group(1).decode("utf-8", "replace"))[:120] if title else ""
            raise FeedError(f"got an HTML page, not a feed{f' ({label})' if label else ''}")
        if feed.get("bozo"):
            raise FeedError(f"not a feed: malformed XML ({feed.get('bozo_exception')})")
        raise FeedError("not a feed: no RSS, RDF or Atom document")
    if feed.get("bozo") and not feed.entries:
        raise FeedError(f"malformed feed: {feed.get('bozo_exception')}")
    return feed


# -- arXiv --------------------------------------------------------------------------------------


def arxiv_id(text: str | None) -> tuple[str, int] | None:
    """(`2608.11232`, version) from a guid, abs/pdf link or identifier; None if there is none."""
    match = _ARXIV_ID.search(text or "")
    if not match:
        return None
    return match.group(1), int(match.group(2) or 1)


def _arxiv_paper(ident: str, version: int, **fields: Any) -> PaperBase:
    return PaperBase(
        id=f"arxiv:{ident}",
        version=version,
        url=f"https://arxiv.org/abs/{ident}",
        pdf_url=f"https://arxiv.org/pdf/{ident}",
        source="arxiv",
        **fields,
    )


def _arxiv_rss(entry: Any, _feed: Any, _source: str | None) -> PaperBase | None:
    found = arxiv_id(entry.get("id")) or arxiv_id(entry.get("link"))
    if not found:
        return None
    description = entry.get("summary", "")
    announce = _ANNOUNCE.match(description)
    abstract = description[announce.end() :] if announce else description
    categories = _terms(entry)
    return _arxiv_paper(
        *found,
        title=clean_text(entry.get("title")),
        authors=split_authors([a.get("name", "") for a in _authors(entry)]),
        abstract=clean_text(abstract),
        categories=categories,
        primary_category=categories[0] if categories else None,
        announce_type=entry.get("arxiv_announce_type") or (announce and announce.group(1)) or None,
        published=parse_date(entry.get("published") or entry.get("updated")),
        doi=_lower(entry.get("arxiv_doi")),
    )


def _arxiv_api(entry: Any, _feed: Any, _source: str | None) -> PaperBase | None:
    entry_id = entry.get("id", "")
    if "/api/errors" in entry_id or (
        entry.get("title") == "Error" and "arxiv.org/abs/" not in entry_id
    ):
        reason = collapse(entry.get("summary") or entry_id.rpartition("#")[2].replace("_", " "))
        raise FeedError(f"arXiv API error: {reason}")
    found = arxiv_id(entry_id)
    if not found:
        return None
    categories = _terms(entry)
    primary = (entry.get("arxiv_primary_category") or {}).get("term")
    if primary and primary not in categories:
        categories.insert(0, primary)
    return _arxiv_paper(
        *found,
        title=clean_text(entry.get("title")),
        authors=split_authors([a.get("name", "") for a in _authors(entry)], single=True),
        abstract=clean_text(entry.get("summary")),
        categories=categories,
        primary_category=primary or (categories[0] if categories else None),
        published=parse_date(entry.get("published") or entry.get("updated")),
        doi=_lower(entry.get("arxiv_doi")),
        journal=collapse(entry.get("arxiv_journal_ref") or "") or None,
    )


# -- bioRxiv / medRxiv --------------------------------------------------------------------------


def _preprint(server: str, doi: str, version: int, **fields: Any) -> PaperBase:
    host = f"https://www.{server}.org/content/{doi}"
    announce = "new" if version <= 1 else "replace"
    return PaperBase(
        id=f"doi:{doi}",
        version=version,
        url=host,
        pdf_url=f"{host}v{version}.full.pdf",
        doi=doi,
        source=server,
        announce_type=announce,
        **fields,
    )


def _parse_biorxiv_json(data: bytes, source: str | None) -> list[PaperBase]:
    try:
        doc = json.loads(data)
    except ValueError as error:
        raise FeedError(f"not a feed: invalid JSON ({error})") from None
    if not isinstance(doc, dict) or "collection" not in doc and "messages" not in doc:
        raise FeedError("not a bioRxiv API response: no 'messages' or 'collection'")
    messages = doc.get("messages") or [{}]
    status = str(messages[0].get("status", "ok")).lower()
    if status not in ("ok", "no posts found"):
        raise FeedError(f"bioRxiv API error: {status}")
    papers = []
    for item in doc.get("collection") or []:
        doi = _lower(item.get("doi"))
        if not doi:
            continue
        server = str(item.get("server") or source or "biorxiv").lower()
        category = collapse(str(item.get("category") or "")).lower()
        papers.append(
            _preprint(
                "medrxiv" if "medrxiv" in server else "biorxiv",
                doi,
                _int(item.get("version"), 1),
                title=clean_text(item.get("title")),
                authors=split_authors(str(item.get("authors") or "").split(";")),
                abstract=clean_text(item.get("abstract")),
                categories=[category] if category else [],
                primary_category=category or None,
                published=parse_date(item.get("date")),
            )
        )
    return papers


def _biorxiv_rss(entry: Any, feed: Any, source: str | None) -> PaperBase | None:
    link = entry.get("link", "")
    doi = _doi_of(entry)
    version_match = _BIORXIV_VERSION.search(link)
    if not doi and version_match:
        doi = f"10.1101/{version_match.group(1)}"
    if not doi:
        return None
    where = " ".join([feed.get("title", ""), feed.get("link", ""), link, source or ""]).lower()
    section = collapse(entry.get("prism_section") or "")
    if not section and "collection:" in feed.get("title", "").lower():
        section = feed["title"].rpartition(":")[2].strip()
    category = section.lower()
    return _preprint(
        "medrxiv" if "medrxiv" in where else "biorxiv",
        doi,
        int(version_match.group(2)) if version_match else 1,
        title=clean_text(entry.get("title")),
        authors=split_authors([a.get("name", "") for a in _authors(entry)]),
        abstract=clean_text(entry.get("summary")),
        categories=[category] if category else [],
        primary_category=category or None,
        published=parse_date(entry.get("updated") or entry.get("prism_publicationdate")),
    )


# -- journals (RSS 2.0, RSS 1.0/RDF, Atom) --------------------------------------------------------


def _journal(entry: Any, feed: Any, source: str | None) -> PaperBase | None:
    link = _TRACKING.sub("", entry.get("link") or entry.get("prism_url") or "").rstrip("?&")
    doi = _doi_of(entry)
    if "arxiv.org/abs/" in link:  # an arXiv feed read as plain RSS still gets arXiv ids
        found = arxiv_id(link)
    else:  # arXiv's own DOIs: 10.48550/arXiv.2401.12345
        found = arxiv_id(doi.rpartition("arxiv.")[2]) if doi and "/arxiv." in doi else None
    if found:
        paper_id = f"arxiv:{found[0]}"
    elif doi:
        paper_id = f"doi:{doi}"
    elif link:
        paper_id = f"url:{link}"
    else:
        return None
    journal = collapse(
        entry.get("prism_publicationname")
        or feed.get("prism_publicationname")
        or re.sub(r"^ScienceDirect Publication:\s*", "", feed.get("title", ""))
        or source
        or ""
    )
    names = [a.get("name", "") for a in _authors(entry)]
    texts = [entry.get("summary", "")] + [c.get("value", "") for c in entry.get("content") or []]
    if not any(names):
        for text in texts:
            if found_authors := _ELSEVIER_AUTHORS.search(text or ""):
                names = [clean_text(found_authors.group(1), tex=False)]
                break
    abstract = max((_journal_abstract(t) for t in texts), key=len, default="")
    pdf = entry.get("pdf_url") or next(
        (link["href"] for link in entry.get("links", []) if link.get("type") == "application/pdf"),
        None,
    )
    categories = _terms(entry)
    return PaperBase(
        id=paper_id,
        title=clean_text(entry.get("title")),
        authors=split_authors(names),
        abstract=abstract,
        categories=categories,
        primary_category=categories[0] if categories else None,
        published=parse_date(
            entry.get("published")
            or entry.get("updated")
            or entry.get("prism_publicationdate")
            or entry.get("prism_coverdate")
        ),
        url=link or (f"https://doi.org/{doi}" if doi else ""),
        pdf_url=pdf,
        doi=doi,
        source=source or journal or "journal",
        journal=journal or None,
    )


def _journal_abstract(raw: str) -> str:
    text = clean_text(_BOILERPLATE.sub(" ", raw or ""))
    return re.sub(r"^Abstract[:.]?\s+", "", text)


# -- small helpers ------------------------------------------------------------------------------


def split_authors(names: list[str], *, single: bool = False) -> list[str]:
    """A clean author list from `dc:creator` strings that may hold several comma-separated names.

    bioRxiv and old Science feeds write `Last, I.`: a part made only of initials is joined back
    to the surname before it instead of becoming an author of its own.
    """
    authors: list[str] = []
    for raw in names:
        raw = clean_text(raw)
        if not raw:
            continue
        parts = [raw] if single else [collapse(p) for p in _NAME_SEPARATOR.split(raw)]
        for part in parts:
            if not part:
                continue
            if authors and _INITIALS.match(part) and "," not in authors[-1]:
                authors[-1] = f"{authors[-1]}, {part}"
            else:
                authors.append(part)
    return authors


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


def _doi_of(entry: Any) -> str | None:
    for key in ("prism_doi", "arxiv_doi", "doi", "dc_identifier", "id", "prism_url", "link"):
        value = entry.get(key)
        if isinstance(value, str) and (
            key in ("prism_doi", "arxiv_doi", "doi")
            or "doi" in value.lower()
            or re.match(r"\s*10\.\d{4,9}/", value)
        ):
            match = _DOI.search(value)
            if match:
                return match.group(1).rstrip(".,;").lower()
    return None


def _authors(entry: Any) -> list[dict]:
    authors = entry.get("authors")
    if isinstance(authors, list) and authors:
        return [a for a in authors if isinstance(a, dict)]
    author = entry.get("author")
    return [{"name": author}] if isinstance(author, str) and author else []


def _terms(entry: Any) -> list[str]:
    terms: list[str] = []
    for tag in entry.get("tags") or []:
        term = collapse(tag.get("term") or "")
        if term and term not in terms:
            terms.append(term)
    return terms


def _lower(value: Any) -> str | None:
    return collapse(str(value)).lower() or None if value else None


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
