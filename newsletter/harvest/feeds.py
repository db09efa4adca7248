"""Parse feed bytes into normalized papers: pure functions, no network, no database.

`parse(kind, data)` reads arXiv RSS (rss.arxiv.org), the arXiv API (Atom), bioRxiv/medRxiv
(api.biorxiv.org JSON or their RSS 1.0) and generic journal feeds (RSS 2.0, RSS 1.0/RDF with
PRISM and Dublin Core, Atom). Every paper gets a canonical id: `arxiv:<id without version>`,
else `doi:<lower-cased doi>`, else `url:<link>`, so the store can collapse versions and merge
the same paper seen through two sources. Error documents (arXiv's error entry, HTML pages,
garbage) raise `FeedError`; a valid feed with no entries is simply `[]`.

feedparser reads the documents; `rawxml` adds what it drops (every `dc:identifier`, JOSS's
author lists) and `authors.split_authors` turns every kind's author strings into one name per
person. Publisher habits are data (the tuples below), so a new journal is usually a new entry
there rather than new code. `read_feed` also returns the feed's own title and URL, which
`newsletter harvest --file` uses to attribute an imported file to its source.
"""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import feedparser
from pydantic import ValidationError

from newsletter.core.models import PaperBase
from newsletter.harvest.authors import split_authors
from newsletter.harvest.entries import (  # noqa: F401  (arxiv_id, parse_date: re-exported)
    arxiv_id,
    as_int,
    authors_of,
    doi_in,
    doi_of,
    lower,
    names,
    parse_date,
    terms,
)
from newsletter.harvest.journals import journal_paper
from newsletter.harvest.rawxml import NONE, ItemExtras, item_extras
from newsletter.harvest.textclean import clean_text, collapse

log = logging.getLogger(__name__)

KINDS = ("arxiv_rss", "arxiv_api", "biorxiv", "rss")


class FeedError(Exception):
    """A response that is not a usable feed; the message says why, for Source.last_error.
    `status` is the HTTP status when the server answered (None: timeout, no connection, too
    large), and `retry_after` its Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


_ANNOUNCE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(\S+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
_BIORXIV_VERSION = re.compile(r"/((?:\d{4}\.\d{2}\.\d{2}\.)?\d{6,})v(\d+)")

@dataclass
class Feed:
    """One parsed document: its papers, and the feed's own title and URLs (may be empty)."""

    papers: list[PaperBase] = field(default_factory=list)
    title: str = ""
    url: str = ""  # the feed's own address (Atom `rel="self"`), else its home page
    home: str = ""  # the channel's `<link>`


def parse(kind: str, data: bytes, *, source: str | None = None) -> list[PaperBase]:
    """Normalized papers from one feed document of the given kind."""
    return read_feed(kind, data, source=source).papers


def read_feed(kind: str, data: bytes, *, source: str | None = None) -> Feed:
    """The papers of one feed document of the given kind, with the feed's title and URLs."""
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}; expected one of {', '.join(KINDS)}")
    data = _unwrap_recorded(data)
    if kind == "biorxiv" and data.lstrip()[:1] in (b"{", b"["):
        return Feed(_parse_biorxiv_json(data, source))
    feed = _feedparse(data)
    handler = {"arxiv_rss": _arxiv_rss, "arxiv_api": _arxiv_api, "biorxiv": _biorxiv_rss}.get(
        kind, journal_paper
    )
    extras = item_extras(data) if kind in ("biorxiv", "rss") else None
    if extras is not None and len(extras) != len(feed.entries):
        log.debug("raw XML has %d items, feedparser %d: extras ignored", len(extras),
                  len(feed.entries))
        extras = None
    papers = []
    for index, entry in enumerate(feed.entries):
        try:
            paper = handler(entry, feed.feed, source, extras[index] if extras else NONE)
        except ValidationError as error:  # one odd entry must not cost the whole feed
            log.warning("skipped a feed entry that does not normalize: %s", error)
            continue
        if paper is not None:
            papers.append(paper)
    return Feed(papers, *_feed_identity(feed.feed))


def _feed_identity(channel: Any) -> tuple[str, str, str]:
    home = collapse(channel.get("link") or "")
    own = next((link.get("href") for link in channel.get("links") or []
                if link.get("rel") == "self" and link.get("href")), "")
    return clean_text(channel.get("title"), tex=False), collapse(own) or home, home


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


def _arxiv_paper(ident: str, version: int, **fields: Any) -> PaperBase:
    return PaperBase(
        id=f"arxiv:{ident}",
        version=version,
        url=f"https://arxiv.org/abs/{ident}",
        pdf_url=f"https://arxiv.org/pdf/{ident}",
        source="arxiv",
        **fields,
    )


def _arxiv_rss(entry: Any, _feed: Any, _source: str | None, _extra: ItemExtras) -> PaperBase | None:
    found = arxiv_id(entry.get("id")) or arxiv_id(entry.get("link"))
    if not found:
        return None
    description = entry.get("summary", "")
    announce = _ANNOUNCE.match(description)
    abstract = description[announce.end() :] if announce else description
    categories = terms(entry)
    return _arxiv_paper(
        *found,
        title=clean_text(entry.get("title")),
        authors=split_authors(names(entry)),
        abstract=clean_text(abstract),
        categories=categories,
        primary_category=categories[0] if categories else None,
        announce_type=entry.get("arxiv_announce_type") or (announce and announce.group(1)) or None,
        published=parse_date(entry.get("published") or entry.get("updated")),
        # The journal version, when the authors told arXiv (arxiv:DOI, arxiv:journal_reference):
        # the store merges it with the journal's own item by DOI, the card links both.
        doi=doi_in(entry.get("arxiv_doi")),
        journal=collapse(entry.get("arxiv_journal_reference") or "") or None,
    )


def _arxiv_api(entry: Any, _feed: Any, _source: str | None, _extra: ItemExtras) -> PaperBase | None:
    entry_id = entry.get("id", "")
    if "/api/errors" in entry_id or (
        entry.get("title") == "Error" and "arxiv.org/abs/" not in entry_id
    ):
        reason = collapse(entry.get("summary") or entry_id.rpartition("#")[2].replace("_", " "))
        raise FeedError(f"arXiv API error: {reason}")
    found = arxiv_id(entry_id)
    if not found:
        return None
    categories = terms(entry)
    primary = (entry.get("arxiv_primary_category") or {}).get("term")
    if primary and primary not in categories:
        categories.insert(0, primary)
    return _arxiv_paper(
        *found,
        title=clean_text(entry.get("title")),
        authors=split_authors(names(entry), single=True),
        abstract=clean_text(entry.get("summary")),
        categories=categories,
        primary_category=primary or (categories[0] if categories else None),
        published=parse_date(entry.get("published") or entry.get("updated")),
        doi=doi_in(entry.get("arxiv_doi")),
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
        doi = lower(item.get("doi"))
        if not doi:
            continue
        server = str(item.get("server") or source or "biorxiv").lower()
        category = collapse(str(item.get("category") or "")).lower()
        papers.append(
            _preprint(
                "medrxiv" if "medrxiv" in server else "biorxiv",
                doi,
                as_int(item.get("version"), 1),
                title=clean_text(item.get("title")),
                authors=split_authors([str(item.get("authors") or "")]),
                abstract=clean_text(item.get("abstract")),
                categories=[category] if category else [],
                primary_category=category or None,
                published=parse_date(item.get("date")),
            )
        )
    return papers


def _biorxiv_rss(entry: Any, feed: Any, source: str | None, extra: ItemExtras) -> PaperBase | None:
    link = entry.get("link", "")
    doi = doi_of(entry, extra)
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
        authors=authors_of(entry, extra),
        abstract=clean_text(entry.get("summary")),
        categories=[category] if category else [],
        primary_category=category or None,
        published=parse_date(entry.get("updated") or entry.get("prism_publicationdate")),
    )


