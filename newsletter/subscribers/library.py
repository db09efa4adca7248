"""Import a researcher's own papers: BibTeX, RIS, CSL-JSON, or arXiv ids / DOIs one a line.

Runs from `newsletter subscribe --library FILE` and the preferences page. `parse_library`
is pure (bytes in, entries and skips out; a broken file raises `LibraryError` with one
line and nothing is stored); `resolve` fills in entries that carry only an id, through the
arXiv API (Atom, the harvest's GET with its 3 s spacing) and Crossref's `/works/{doi}`
(`harvest.crossref`: the polite pool, per-DOI cache and rate limit); `import_library` stores
the result as `LibraryItem`s (one per paper: a re-import updates, never duplicates) and
says what it used and what it skipped, and why. Well-kept parsers do the reading:
bibtexparser (Zotero, JabRef, Mendeley, Better BibTeX exports) and rispy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import bibtexparser
import rispy
from bibtexparser import middlewares
from sqlmodel import Session, select

from newsletter.core.models import LibraryItem, Subscriber
from newsletter.core.text import title_key
from newsletter.harvest import crossref, fetch
from newsletter.harvest.entries import arxiv_id, find_doi
from newsletter.harvest.feeds import FeedError, parse
from newsletter.harvest.textclean import clean_text, collapse
from newsletter.locale.i18n import Message, lazy

MAX_BYTES = 5 * 2**20
MAX_ENTRIES = 5000
ARXIV_API = "https://export.arxiv.org/api/query"
ARXIV_BATCH = 50  # ids per arXiv API request
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_ID_LINE = re.compile(r"^\s*(?:arxiv:|doi:|https?://\S+/)?\S+\s*$", re.IGNORECASE)
_YEAR = re.compile(r"(1[89]|20)\d\d")
_BARE_ARXIV = re.compile(r"\s*[\w.-]*/?\d{4}\.?\d{3,5}(v\d+)?\s*")


class LibraryError(ValueError):
    """The file cannot be read as a library: one line, worded in the reader's language by
    `text(locale)` (`str()` is the English, for the CLI and logs)."""

    def __init__(self, message: Message) -> None:
        self.message = message
        super().__init__(message.text("en"))

    def text(self, locale: str | None) -> str:
        return self.message.text(locale)


@dataclass
class Entry:
    """One paper as read from the file (before it is stored)."""

    label: str  # how the report names it: the title, or the id it came as
    title: str = ""
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None

    @property
    def key(self) -> str:
        if self.arxiv_id:
            return f"arxiv:{self.arxiv_id}"
        if self.doi:
            return f"doi:{self.doi}"
        return "title:" + title_key(self.title)[:290]


Skips = list[tuple[str, Message]]  # (label, why), worded for the reader


@dataclass
class Report:
    """What an import did: the papers used (new or updated) and those skipped, with why."""

    format: str
    used: list[Entry] = field(default_factory=list)
    skipped: Skips = field(default_factory=list)
    added: int = 0
    updated: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.format}: used {len(self.used)} papers ({self.added} new, "
               f"{self.updated} updated), skipped {len(self.skipped)}"]
        out += [f"  skipped {label}" for label in self.skipped_text("en")]
        return out

    def skipped_text(self, locale: str | None) -> list[str]:
        """"label: why" per skipped entry, in the reader's language."""
        return [f"{label[:80]}: {why.text(locale)}" for label, why in self.skipped]


# --- reading ---------------------------------------------------------------------------------


def parse_library(data: bytes, filename: str = "") -> tuple[str, list[Entry], Skips]:
    """(format, entries, skipped) from a file's bytes; LibraryError if it is not a library."""
    if len(data) > MAX_BYTES:
        raise LibraryError(lazy.gettext("the file is larger than %(mb)s MB", mb=MAX_BYTES // 2**20))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LibraryError(lazy.gettext("the file is not UTF-8 text (export it as UTF-8)")) \
            from None
    if not text.strip():
        raise LibraryError(lazy.gettext("the file is empty"))
    kind = _detect(text, filename.lower())
    reader = {"bibtex": _bibtex, "ris": _ris, "csl-json": _csl_json, "ids": _id_lines}[kind]
    entries, skipped = reader(text)
    if len(entries) + len(skipped) > MAX_ENTRIES:
        raise LibraryError(lazy.gettext("the file has %(count)s entries; at most %(limit)s can"
                                        " be imported", count=len(entries) + len(skipped),
                                        limit=MAX_ENTRIES))
    if not entries:
        if skipped:
            raise LibraryError(lazy.gettext("no usable paper found in this %(kind)s file"
                                            " (%(reason)s)", kind=kind, reason=skipped[0][1]))
        raise LibraryError(lazy.gettext("no usable paper found in this %(kind)s file", kind=kind))
    return kind, entries, skipped


def _detect(text: str, filename: str) -> str:
    head = text.lstrip()[:1]
    if filename.endswith(".json") or head in "[{":
        return "csl-json"
    if filename.endswith((".bib", ".bibtex")) or re.search(r"^\s*@\w+\s*[{(]", text, re.M):
        return "bibtex"
    if filename.endswith(".ris") or re.search(r"^TY  - ", text, re.M):
        return "ris"
    return "ids"


def _entry(label: str, *, title: Any = "", abstract: Any = "", authors: Any = (),
           year: Any = None, ids: tuple[Any, ...] = (), tex: bool = True) -> Entry:
    """An Entry from raw field values: markup (and TeX, unless `tex` is off: RIS is plain
    text, where `{`, `$` and `\\` are themselves) cleaned, ids found in any of `ids`."""
    found_arxiv, found_doi = None, None
    for value in ids:
        value = str(value or "")
        doi = find_doi(value)
        if doi and (m := _ARXIV_DOI.match(doi)):
            found_arxiv = found_arxiv or (arxiv_id(m.group(1)) or (None,))[0]
        elif doi:
            found_doi = found_doi or doi
        elif "arxiv" in value.lower() or _BARE_ARXIV.fullmatch(value):
            found_arxiv = found_arxiv or (arxiv_id(value) or (None,))[0]
    match = _YEAR.search(str(year or ""))

    def clean(value: Any) -> str:
        return clean_text(str(value or ""), tex=tex)

    return Entry(label=clean(label)[:200] or "(untitled)", title=clean(title),
                 abstract=clean(abstract), authors=[clean(a) for a in authors if clean(a)],
                 year=int(match.group()) if match else None,
                 arxiv_id=found_arxiv, doi=found_doi)


def _keep(entry: Entry, entries: list[Entry], skipped: Skips) -> None:
    if entry.title or entry.arxiv_id or entry.doi:
        entries.append(entry)
    else:
        skipped.append((entry.label, lazy.gettext("no title, arXiv id or DOI")))


def _bibtex(text: str) -> tuple[list[Entry], Skips]:
    library = bibtexparser.parse_string(text, append_middleware=[middlewares.SeparateCoAuthors()])
    if not library.entries and library.failed_blocks:
        raise LibraryError(lazy.gettext("not valid BibTeX: %(detail)s",
                                        detail=_first_line(library.failed_blocks[0].error)))
    entries: list[Entry] = []
    skipped: Skips = [(f"line {b.start_line + 1}", lazy.gettext(
        "not valid BibTeX (%(detail)s)", detail=_first_line(b.error)))
        for b in library.failed_blocks]
    for item in library.entries:
        value = {k.lower(): fld.value for k, fld in item.fields_dict.items()}
        authors = value.get("author") or []
        authors = [authors] if isinstance(authors, str) else authors
        eprint = value.get("eprint") if str(value.get("archiveprefix") or value.get(
            "eprinttype") or "arxiv").lower() == "arxiv" else None
        _keep(_entry(value.get("title") or item.key, title=value.get("title"),
                     abstract=value.get("abstract"), authors=authors,
                     year=value.get("year") or value.get("date"),
                     ids=(eprint, value.get("arxivid"), value.get("doi"), value.get("url"),
                          value.get("note"), value.get("journal"))), entries, skipped)
    return entries, skipped


def _first_line(error: Any) -> str:
    return collapse(str(error).splitlines()[0] if str(error) else "syntax error")[:120]


def _ris(text: str) -> tuple[list[Entry], Skips]:
    try:
        records = rispy.loads(text, skip_unknown_tags=True)
    except Exception as error:  # noqa: BLE001  (rispy raises bare IOError/ValueError kinds)
        raise LibraryError(lazy.gettext("not valid RIS: %(detail)s",
                                        detail=_first_line(error))) from None
    entries: list[Entry] = []
    skipped: Skips = []
    for rec in records:
        title = rec.get("title") or rec.get("primary_title") or ""
        urls = rec.get("urls") or []
        _keep(_entry(title or rec.get("doi") or "(untitled)", title=title,
                     abstract=rec.get("abstract") or rec.get("notes_abstract"),
                     authors=rec.get("authors") or rec.get("first_authors") or [],
                     year=rec.get("year") or rec.get("publication_year") or rec.get("date"),
                     ids=(rec.get("doi"), *urls, *(rec.get("notes") or [])), tex=False),
              entries, skipped)
    return entries, skipped


def _csl_json(text: str) -> tuple[list[Entry], Skips]:
    try:
        items = json.loads(text)
    except ValueError as error:
        raise LibraryError(lazy.gettext("not valid JSON: %(detail)s", detail=str(error))) from None
    items = items.get("items", [items]) if isinstance(items, dict) else items
    if not isinstance(items, list):
        raise LibraryError(lazy.gettext("not CSL-JSON: expected a list of items"))
    entries: list[Entry] = []
    skipped: Skips = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            skipped.append((f"item {n}", lazy.gettext("not a CSL-JSON item")))
            continue
        authors = [a.get("literal") or " ".join(filter(None, (a.get("given"), a.get("family"))))
                   for a in item.get("author") or [] if isinstance(a, dict)]
        parts = ((item.get("issued") or {}).get("date-parts") or [[None]])[0] or [None]
        title = item.get("title") or ""
        _keep(_entry(title or item.get("DOI") or f"item {n}", title=title,
                     abstract=item.get("abstract"), authors=authors, year=parts[0],
                     ids=(item.get("number"), item.get("DOI"), item.get("URL"),
                          item.get("archive_location"))), entries, skipped)
    return entries, skipped


def _id_lines(text: str) -> tuple[list[Entry], Skips]:
    entries: list[Entry] = []
    skipped: Skips = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = _entry(line, ids=(line,)) if _ID_LINE.match(line) else Entry(label=line)
        if entry.arxiv_id or entry.doi:
            entries.append(entry)
        else:
            skipped.append((line[:80], lazy.gettext("not an arXiv id or DOI")))
    return entries, skipped


# --- resolving bare ids ----------------------------------------------------------------------


def resolve(entries: list[Entry], session: Session | None = None) -> Skips:
    """Fill in entries that have an id but no abstract (arXiv API, then Crossref), in place.
    Returns the entries it gave up on as (label, reason); they stay usable if they have a
    title. One refused connection stops further lookups at that service. With a `session`,
    Crossref's answers go through its per-DOI cache (`harvest.crossref.lookup`)."""
    failed: Skips = []
    todo = [e for e in entries if e.arxiv_id and not e.abstract]
    for start in range(0, len(todo), ARXIV_BATCH):
        batch = todo[start:start + ARXIV_BATCH]
        ids = ",".join(e.arxiv_id for e in batch)
        try:
            data = fetch.get_bytes(f"{ARXIV_API}?id_list={quote(ids, safe=',/')}"
                                   f"&max_results={len(batch)}", kind="arxiv_api")
            found = {p.id.removeprefix("arxiv:"): p for p in parse("arxiv_api", data)}
        except FeedError as error:
            why = lazy.gettext("arXiv lookup failed: %(error)s", error=error.message)
            failed += [(e.label, why) for e in batch]
            later = lazy.gettext("arXiv lookup skipped after an earlier failure")
            failed += [(e.label, later) for e in todo[start + ARXIV_BATCH:]]
            break
        for e in batch:
            paper = found.get(e.arxiv_id)
            if paper is None:
                failed.append((e.label, lazy.gettext("arXiv does not know this id")))
                continue
            e.title, e.abstract = e.title or paper.title, paper.abstract
            e.authors = e.authors or list(paper.authors)
            e.year = e.year or (paper.published.year if paper.published else None)
            e.doi = e.doi or paper.doi
    gave_up = False
    for e in (e for e in entries if e.doi and not e.arxiv_id and not e.abstract):
        if gave_up:
            failed.append((e.label, lazy.gettext(
                "Crossref lookup skipped after an earlier failure")))
            continue
        try:
            work = crossref.lookup(session, e.doi) if session is not None \
                else crossref.fetch_work(e.doi)
        except crossref.CrossrefError as error:
            unreadable = error.status is not None and error.status < 400
            failed.append((e.label, lazy.gettext("Crossref sent an unreadable answer")
                           if unreadable else lazy.gettext("Crossref lookup failed: %(error)s",
                                                           error=error.message)))
            gave_up = error.stops_run and not unreadable
            continue
        if work is None:
            failed.append((e.label, lazy.gettext("Crossref does not know this DOI")))
            continue
        e.title = e.title or work.title
        e.abstract, e.authors = work.abstract, e.authors or work.authors
        e.year = e.year or work.year
    return failed


# --- storing ---------------------------------------------------------------------------------


def import_library(session: Session, subscriber: Subscriber, data: bytes, filename: str = "",
                   *, lookup: bool = True) -> Report:
    """Read, resolve and store a library file for `subscriber`; commit; say what happened.
    LibraryError (nothing stored) if the file is not a library."""
    kind, entries, skipped = parse_library(data, filename)
    report = Report(kind, skipped=list(skipped))
    if lookup:
        failures = dict(resolve(entries, session))
    else:
        failures = {e.label: lazy.gettext("not looked up") for e in entries if not e.abstract}
    existing = {item.key: item for item in session.exec(
        select(LibraryItem).where(LibraryItem.subscriber_id == subscriber.id))}
    seen: set[str] = set()
    for e in entries:
        if not e.title:
            report.skipped.append((e.label, failures.get(e.label, lazy.gettext("no title"))))
            continue
        if e.key in seen:
            report.skipped.append((e.label, lazy.gettext("listed twice in this file")))
            continue
        seen.add(e.key)
        item = existing.get(e.key)
        if item is None:
            item = LibraryItem(subscriber_id=subscriber.id, key=e.key, title=e.title, origin=kind)
            report.added += 1
        else:
            report.updated += 1
        item.title, item.abstract, item.authors = e.title[:2000], e.abstract[:20000], e.authors[:50]
        item.year, item.arxiv_id, item.doi = e.year, e.arxiv_id, e.doi
        item.vector, item.vector_version = None, None  # embedded again with the new text
        session.add(item)
        report.used.append(e)
    if len(existing) + report.added > MAX_ENTRIES:
        session.rollback()
        raise LibraryError(lazy.gettext("a library holds at most %(limit)s papers",
                                        limit=MAX_ENTRIES))
    from newsletter.ranking import learning

    learning.mark_stale(session, subscriber.id)
    session.commit()
    return report


def items_of(session: Session, subscriber: Subscriber) -> list[LibraryItem]:
    """The subscriber's library, most recently imported first."""
    return list(session.exec(select(LibraryItem).where(
        LibraryItem.subscriber_id == subscriber.id).order_by(LibraryItem.id.desc())))


def remove_item(session: Session, subscriber: Subscriber, item_id: int) -> bool:
    item = session.get(LibraryItem, item_id)
    if item is None or item.subscriber_id != subscriber.id:
        return False
    from newsletter.ranking import learning

    session.delete(item)
    learning.mark_stale(session, subscriber.id)
    session.commit()
    return True
