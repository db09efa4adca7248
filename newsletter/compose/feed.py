"""The personal Atom feed (RFC 4287): a subscriber's sent digests for feed readers, one entry
per digest or one per paper, as they chose on the preferences page.

Built from the database on each request (`build_feed`) with lxml: every text is escaped by
the XML library, and entry content is an HTML fragment made with markupsafe (untrusted text
escaped there) sent as `type="html"`. Not feedgen: its 1.0 drops `rel` and `type` from entry
links, which would give a per-paper entry two alternate links (invalid Atom). Entry ids are
`urn:uuid`s derived from what never changes (the digest's id; the subscriber's public id
and the paper's id), so a reader sees each entry once however often it fetches or the
feed's address is renewed. Newest first, at most `MAX_DIGESTS` digests or `MAX_PAPERS`
papers, a paper once. Entries link the digest's read-only web view (the feed is handed to
reader services and shared; it must not open the subscriber's preferences or unsubscribe
them). `Feed.etag` and `Feed.updated` serve conditional GETs: the tag hashes
what the entries say, not the bytes (links in entries are signed afresh on each fetch).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

from lxml import etree
from lxml.builder import ElementMaker
from markupsafe import Markup, escape
from sqlmodel import Session, col, select

from newsletter.compose.render import clean_llm_text, safe_url
from newsletter.compose.view import source_label
from newsletter.core import links
from newsletter.core.config import get_settings
from newsletter.core.models import Digest, DigestItem, DigestStatus, Paper, Subscriber
from newsletter.locale import i18n

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
E = ElementMaker(namespace=ATOM_NS, nsmap={None: ATOM_NS})
MAX_DIGESTS = 30
MAX_PAPERS = 100
MODES = ("digest", "paper")
SHOWN_AUTHORS = 10
# Entry ids: uuid5 names under our own namespace (never change, whatever the host).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://academichub.invalid/atom")
# XML 1.0 forbids most control characters; feeds sometimes carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Feed:
    xml: bytes
    etag: str  # a weak validator: same entries, same tag
    updated: dt.datetime  # the newest entry's time (Last-Modified)


def entry_id(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, name)}"


def _text(value: str | None) -> str:
    return _NOT_XML.sub("", value or "")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _when(digest: Digest) -> dt.datetime:
    return _aware(digest.sent_at or digest.composed_at or digest.created_at)


def sent_digests(session: Session, subscriber: Subscriber) -> list[Digest]:
    return list(session.exec(
        select(Digest).where(Digest.subscriber_id == subscriber.id,
                             Digest.status == DigestStatus.SENT)
        .order_by(col(Digest.local_date).desc(), col(Digest.id).desc()).limit(MAX_DIGESTS)))


def _papers_of(session: Session, digests: list[Digest]) -> dict[int, list[Paper]]:
    found: dict[int, list[Paper]] = {d.id: [] for d in digests}
    for item, paper in session.exec(
            select(DigestItem, Paper).join(Paper, Paper.id == DigestItem.paper_id)
            .where(col(DigestItem.digest_id).in_(list(found))).order_by(DigestItem.rank)):
        found[item.digest_id].append(paper)
    return found


def _authors(paper: Paper) -> str:
    names = [n for n in paper.authors or [] if n.strip()]
    return ", ".join(names[:SHOWN_AUTHORS]) + (" …" if len(names) > SHOWN_AUTHORS else "")


def _paper_item(paper: Paper) -> Markup:
    url = safe_url(paper.url)
    title = (Markup('<a href="{}">{}</a>').format(url, _text(paper.title)) if url
             else escape(_text(paper.title)))
    return Markup("<li>{}<br>{}</li>").format(title, _text(_authors(paper)))


def _digest_html(digest: Digest, papers: list[Paper]) -> str:
    # LLM words: no links in them, as in the email (render.clean_llm_text)
    paragraphs = [p for p in _text(clean_llm_text(digest.synthesis)).split("\n\n") if p.strip()]
    body = Markup("").join(Markup("<p>{}</p>").format(p) for p in paragraphs)
    return body + Markup("<ol>{}</ol>").format(Markup("").join(_paper_item(p) for p in papers))


def _paper_html(paper: Paper, tr: i18n.Translator, digest: Digest) -> str:
    parts = [Markup("<p>{}</p>").format(_text(_authors(paper)))]
    if paper.abstract:
        parts.append(Markup("<p>{}</p>").format(_text(paper.abstract)))
    source = source_label(paper)
    parts.append(Markup("<p>{}</p>").format(tr.gettext(
        "From your digest of %(date)s", date=tr.date(digest.local_date))
        + (f" · {source}" if source else "") + (f" · DOI {paper.doi}" if paper.doi else "")))
    return Markup("").join(parts)


def build_feed(session: Session, subscriber: Subscriber) -> Feed:
    """The subscriber's feed as it is now (their language, their choice of entries)."""
    tr = i18n.translator(subscriber.locale)
    digests = sent_digests(session, subscriber)
    papers = _papers_of(session, digests)
    newest = _aware(subscriber.created_at) if not digests else _when(digests[0])
    feed = E.feed(
        E.id(entry_id(f"feed:{subscriber.public_id}")),
        E.title(tr.gettext("AcademicHub: your research digest")),
        E.subtitle(tr.gettext("The papers picked for you each morning, with their synthesis.")),
        E.author(E.name("AcademicHub")),
        E.link(href=links.feed_url(subscriber), rel="self", type=ATOM_TYPE),
        E.link(href=get_settings().public_base_url + "/", rel="alternate", type="text/html"),
        E.generator("AcademicHub"))
    feed.set(XML_LANG, i18n.normalize_locale(subscriber.locale))
    stamps: list[str] = [str(subscriber.feed_version), subscriber.feed_mode, subscriber.locale]
    seen: set[str] = set()
    for digest in digests:
        # read-only (ro): the digest without the email's or the pages' personal links
        when, web = _when(digest), links.url_for("digest", subscriber, digest=digest.id, ro=1)
        newest = max(newest, when)  # ordered by date; a later resend may be newer
        if subscriber.feed_mode != "paper":
            title = _text(digest.subject) or tr.gettext(
                "Your digest of %(date)s", date=tr.date(digest.local_date))
            feed.append(_entry(f"digest:{digest.id}", title, when,
                               _digest_html(digest, papers[digest.id]),
                               [E.link(href=web, rel="alternate", type="text/html")]))
            stamps.append(f"d{digest.id}@{when.isoformat()}")
            continue
        for paper in papers[digest.id]:
            if paper.id in seen or len(seen) >= MAX_PAPERS:
                continue
            seen.add(paper.id)
            extra = [E.link(href=url, rel="alternate", type="text/html")
                     for url in [safe_url(paper.url)] if url]
            extra.append(E.link(href=web, rel="alternate" if not extra else "related",
                                type="text/html"))
            names = [n for n in paper.authors or [] if n.strip()][:SHOWN_AUTHORS]
            extra += [E.author(E.name(_text(name))) for name in names]
            extra += [E.category(term=_text(term)) for term in paper.categories or []]
            feed.append(_entry(f"paper:{subscriber.public_id}:{paper.id}", _text(paper.title),
                               when, _paper_html(paper, tr, digest), extra))
            stamps.append(f"p{paper.id}@{when.isoformat()}")
    feed.insert(3, E.updated(_stamp(newest)))
    digest_of_entries = hashlib.sha256("\n".join(stamps).encode()).hexdigest()[:32]
    xml = etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)
    return Feed(xml, f'W/"{digest_of_entries}"', newest)


def _stamp(moment: dt.datetime) -> str:
    """RFC 3339, as Atom's date constructs want it."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _entry(name: str, title: str, when: dt.datetime, html: str, extra: list) -> etree._Element:
    """An entry in the order RFC 4287 shows them; `html` is escaped by lxml, once, and what
    XML cannot carry is dropped from it whichever field brought it (DOI, source, ...)."""
    return E.entry(E.id(entry_id(name)), E.title(_text(title)), E.published(_stamp(when)),
                   E.updated(_stamp(when)), *extra, E.content(_text(html), type="html"))
