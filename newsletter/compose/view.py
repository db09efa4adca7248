"""The compose stage: a digest's papers and words -> subject, preheader, HTML and text.

`compose_digest` runs once per digest (compose queue, or in-process in embedded mode): it
loads the ranked items, asks the writer for the synthesis and summaries, renders, and
stores the result with status "composed". `render_digest` is the pure half (a `DigestView`
in, a `Rendered` out) that tests and the benchmark call without a database. The HTML stays
under `HTML_BUDGET` by dropping cards from the end and linking to the web view instead.
Rendering machinery (MJML compile cache, premailer, escaping rules) is in newsletter.render.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import cache

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from newsletter.compose import render
from newsletter.compose.render import (
    TEXT_RULE,
    Link,
    Rendered,
    clean_llm_text,
    cut_at_sentence,
    one_line,
    render_html,
    render_subject,
    render_text,
    safe_url,
    synthesis_paragraphs,
)
from newsletter.compose.versions import (  # noqa: F401  (is_preprint: re-exported)
    JOURNAL,
    SOURCE_LABELS,
    Version,
    doi_url,
    is_preprint,
    preprint_url,
    versions,
)
from newsletter.core import logs
from newsletter.core.links import export_url, feed_url, url_for
from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Interest,
    InterestKind,
    Paper,
    Subscriber,
)
from newsletter.core.richtext import safe_markup
from newsletter.core.text import followed_names
from newsletter.core.time import utcnow
from newsletter.harvest.sources import journal_catalogue
from newsletter.locale import i18n
from newsletter.locale.reasons import reason_text
from newsletter.ranking.candidates import Pick
from newsletter.ranking.reasons import reasons_from_json
from newsletter.tracking import clicks
from newsletter.writing import synthesize

__all__ = ["HTML_BUDGET", "CardView", "DigestView", "Rendered", "compose_digest",
           "render_digest"]

log = logging.getLogger(__name__)
HTML_BUDGET = 100_000  # bytes; Gmail clips messages at about 102 KB
SHOWN_AUTHORS = 3


@dataclass
class CardView:
    """One paper as the email shows it. URLs are checked again at render time."""
    n: int
    title: str
    authors: list[str]
    summary: str
    source: str = "arXiv"
    category: str | None = None
    date: dt.date | None = None
    reason: str = ""  # shown as it is when `reasons` is empty (rows from before 0004)
    reasons: list = field(default_factory=list)  # ranking Reasons, worded in its language
    followed: list[str] = field(default_factory=list)  # followed authors, as typed
    url: str | None = None  # the title link (our click redirect)
    abstract_url: str | None = None
    pdf_url: str | None = None
    save_url: str | None = None  # onto the reading list (the archive page)
    more_url: str | None = None
    less_url: str | None = None
    title_html: str | None = None  # sub/sup/i/b kept (core.richtext); sanitised again here
    doi_url: str | None = None  # https://doi.org/<doi>: the article at its publisher
    preprint_url: str | None = None  # the arXiv preprint of a journal paper (one paper, once)
    versions: list[Version] = field(default_factory=list)  # journal and preprint, both linked
    export_url: str | None = None  # its citation as a BibTeX download (Zotero imports it)


@dataclass
class DigestView:
    locale: str
    date: dt.date
    email: str
    cards: list[CardView]
    synthesis: str = ""
    theme: str = ""
    preheader: str = ""
    topics: list[str] = field(default_factory=list)
    preferences_url: str | None = None
    unsubscribe_url: str | None = None
    web_url: str | None = None
    archive_url: str | None = None  # past digests, search, reading list
    bibtex_url: str | None = None  # every paper's citation, BibTeX and RIS downloads
    ris_url: str | None = None
    feed_url: str | None = None  # the personal Atom feed
    total: int | None = None  # papers in the digest; defaults to len(cards)


# --- pure rendering ---------------------------------------------------------------------

@cache
def _link_labels(locale: str) -> tuple[str, ...]:
    tr = i18n.translator(locale)
    return (tr.gettext("Abstract"), tr.gettext("DOI"), tr.gettext("Preprint"), tr.gettext("PDF"),
            tr.gettext("Zotero/BibTeX"), tr.gettext("Save"), tr.gettext("More like this"),
            tr.gettext("Less like this"))


def _card(card: CardView, locale: str) -> dict:
    names = [a for a in card.authors if a and a.strip()]
    starred = followed_names(names, card.followed)
    is_followed = [name in starred for name in names]
    shown = [i for i in range(len(names)) if i < SHOWN_AUTHORS or is_followed[i]]
    authors = [{"name": one_line(names[i], render.MAX_AUTHOR), "followed": is_followed[i]}
               for i in shown]
    hidden = len(names) - len(shown)
    more_authors = i18n.translator(locale).ngettext(
        "+%(num)s more", "+%(num)s more", hidden) if hidden else ""
    both = card.versions  # they link the DOI and the preprint, with names
    links = [Link(label, safe_url(url)) for label, url in zip(_link_labels(locale), (
        card.abstract_url, None if both else card.doi_url, None if both else card.preprint_url,
        card.pdf_url, card.export_url, card.save_url, card.more_url, card.less_url))]
    badge = card.source + (f" ({card.category})" if card.category else "") \
        + (f" {card.date.isoformat()}" if card.date else "")
    return {
        "n": card.n, "num": f"{card.n:02d}", "badge": one_line(badge, 120),
        "title": (title := one_line(card.title, render.MAX_TITLE)),
        # A title cut short loses its markup's balance: the cut plain text is shown then.
        "title_html": safe_markup(card.title_html if title == card.title else None, title),
        "url": safe_url(card.url),
        "authors": authors, "more_authors": more_authors,
        "authors_text": ", ".join(a["name"] + (" ★" if a["followed"] else "")
                                  for a in authors) + (f" {more_authors}" if hidden else ""),
        "summary": cut_at_sentence(card.summary, render.MAX_SUMMARY),
        "reason": one_line(reason_text(card.reasons, locale) if card.reasons else card.reason,
                           render.MAX_REASON),
        "links": [link for link in links if link.url],
        "versions": [link for link in _version_links(card.versions, locale) if link.url],
    }


def _version_links(found: list[Version], locale: str) -> list[Link]:
    tr = i18n.translator(locale)
    return [Link(tr.gettext("Journal version: %(name)s", name=one_line(v.name, 120))
                 if v.kind == JOURNAL else
                 tr.gettext("Preprint: %(name)s", name=one_line(v.name, 120)), safe_url(v.url))
            for v in found]


def footer_context(locale: str, email: str, topics: list[str], links: list[Link]) -> dict:
    topics = [one_line(topic, render.MAX_TOPIC)
              for topic in topics[: render.MAX_TOPICS] if topic.strip()]
    tr = i18n.translator(locale)
    why = (tr.gettext("You get this email because you subscribed to AcademicHub with these "
                      "topics: %(topics)s.", topics=tr.join(topics))
           if topics else tr.gettext("You get this email because you subscribed to AcademicHub."))
    return {"footer_links": [link for link in links if link.url],
            "footer_lines": [tr.gettext("Sent to %(email)s.", email=email), why]}


def render_digest(view: DigestView, *, budget: int = HTML_BUDGET) -> Rendered:
    """Render the digest; if the HTML would exceed `budget` bytes, keep the most cards that
    fit and link the rest to the web view."""
    locale = i18n.normalize_locale(view.locale)
    tr = i18n.translator(locale)
    cards = [_card(card, locale) for card in view.cards]
    total = max(view.total or 0, len(cards))
    theme = one_line(clean_llm_text(view.theme), render.MAX_THEME)
    base = {
        "locale": locale, "date_long": tr.date(view.date),
        "date_short": tr.date(view.date, "short"),
        "theme": theme, "total": total, "rule": TEXT_RULE,
        **footer_context(locale, view.email, view.topics, [
            Link(tr.gettext("Preferences"), safe_url(view.preferences_url)),
            Link(tr.gettext("Unsubscribe"), safe_url(view.unsubscribe_url)),
            Link(tr.gettext("View in browser"), safe_url(view.web_url)),
            Link(tr.gettext("Archive"), safe_url(view.archive_url)),
            Link(tr.gettext("All papers: Zotero/BibTeX"), safe_url(view.bibtex_url)),
            Link(tr.gettext("RIS"), safe_url(view.ris_url)),
            Link(tr.gettext("Atom feed"), safe_url(view.feed_url))]),
    }
    base["subject"] = render_subject("digest", base)
    base["preheader"] = one_line(clean_llm_text(view.preheader), render.MAX_PREHEADER) or \
        tr.ngettext("%(num)s new paper picked for you today.",
                    "%(num)s new papers picked for you today.", total)

    def context(k: int, html: bool) -> dict:
        numbers = {card["n"] for card in cards[:k]}
        left = total - k
        more = Link(tr.ngettext("%(num)s more paper on the web", "%(num)s more papers on the web",
                                left), safe_url(view.web_url)) if left else None
        return {**base, "cards": cards[:k], "more": more,
                "synthesis": synthesis_paragraphs(view.synthesis, numbers, html=html)}

    def build(k: int) -> str:
        return render_html("digest", locale, context(k, html=True))

    shown, html = len(cards), build(len(cards))
    if _size(html) > budget:
        # The largest k that fits: sizes grow with k, so a binary search (a few renders,
        # only for oversized digests).
        low, high, html_low = 0, len(cards) - 1, build(0)
        while low < high:
            mid = (low + high + 1) // 2
            candidate = build(mid)
            if _size(candidate) <= budget:
                low, html_low = mid, candidate
            else:
                high = mid - 1
        shown, html = low, html_low
    text = render_text("digest", context(shown, html=False))
    return Rendered(base["subject"], base["preheader"], html, text)


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


# --- the stage --------------------------------------------------------------------------

TOPIC_KINDS = (InterestKind.KEYWORD, InterestKind.CATEGORY, InterestKind.AUTHOR)
RECOMPOSABLE = (DigestStatus.PENDING, DigestStatus.COMPOSED)


def source_label(paper: Paper) -> str:
    """The badge's name: the preprint server, else the catalogue's label for the journal the
    paper came from ("PNAS", not the feed's "Proceedings of the National Academy of
    Sciences"), else the journal the feed names."""
    source = paper.source or ""
    if label := SOURCE_LABELS.get(source.lower()):
        return label
    return source if source in _catalogue_labels() else paper.journal or source


@cache
def _catalogue_labels() -> frozenset[str]:
    return frozenset(spec.label for spec in journal_catalogue())


def build_view(digest: Digest, subscriber: Subscriber, picks: list[Pick],
               interests: list[Interest], writing: synthesize.Writing) -> DigestView:
    followed = [i.value for i in interests if i.kind == InterestKind.AUTHOR]
    cards = []
    for n, pick in enumerate(picks, 1):
        paper = pick.paper
        summary = clean_llm_text(writing.summaries.get(paper.id) or "").strip()
        cards.append(CardView(
            n=n, title=paper.title, authors=list(paper.authors or []),
            summary=summary or cut_at_sentence(paper.abstract),
            source=source_label(paper),
            # A journal's categories are its sections ("Research Article"): the name says it.
            category=(paper.primary_category or (paper.categories or [None])[0]
                      if is_preprint(paper) else None),
            title_html=paper.title_html, doi_url=doi_url(paper), preprint_url=preprint_url(paper),
            versions=versions(paper, pick.versions, source_label),
            date=paper.published, reason=pick.reason, reasons=pick.reasons,
            followed=followed,
            # the click redirect (it reads its own token keys, so clicks builds the URL)
            url=clicks.click_url(subscriber, paper.id, digest.id) if safe_url(paper.url) else None,
            abstract_url=paper.url, pdf_url=paper.pdf_url,
            export_url=export_url(subscriber, paper=paper.id),
            save_url=url_for("save", subscriber, paper=paper.id),
            more_url=url_for("feedback", subscriber, paper=paper.id, signal="more"),
            less_url=url_for("feedback", subscriber, paper=paper.id, signal="less"),
        ))
    return DigestView(
        locale=subscriber.locale, date=digest.local_date, email=subscriber.email, cards=cards,
        synthesis=writing.synthesis, theme=writing.theme, preheader=writing.preheader,
        topics=[i.value for i in interests if i.kind in TOPIC_KINDS],
        preferences_url=url_for("preferences", subscriber),
        unsubscribe_url=url_for("unsubscribe", subscriber),
        web_url=url_for("digest", subscriber, digest=digest.id),
        archive_url=url_for("archive", subscriber),
        bibtex_url=export_url(subscriber, digest=digest.id),
        ris_url=export_url(subscriber, "ris", digest=digest.id),
        feed_url=feed_url(subscriber),
    )


def compose_digest(session: Session, digest: Digest) -> Digest:
    """Write and render one digest and store it as "composed".

    Safe to run twice: it overwrites its own fields, adds no rows, and never touches a
    digest that delivery has already claimed (the final UPDATE is conditional on status)."""
    if digest.status not in RECOMPOSABLE:
        return digest
    compose_many(session, [digest], strict=True)
    session.refresh(digest)
    return digest


def compose_many(session: Session, digests: list[Digest], *, strict: bool = False
                 ) -> tuple[dict[int, str], list[int]]:
    """`compose_digest` for many digests: the same per-digest conditional UPDATE, but the
    rows they need are read in a handful of queries and committed once.

    Returns (status per digest, ids whose composing raised). A database error always
    propagates (the caller retries the batch; every step is idempotent); other errors
    propagate with `strict`, else that digest is left as it was and reported."""
    digests = [d for d in digests if d.status in RECOMPOSABLE]
    if not digests:
        return {}, []
    wanted = {d.subscriber_id for d in digests}
    subscribers = {s.id: s for s in session.exec(
        select(Subscriber).where(col(Subscriber.id).in_(wanted)))}
    rows = list(session.exec(select(Interest).where(col(Interest.subscriber_id).in_(wanted))
                             .order_by(Interest.id)))
    interests: dict[int, list[Interest]] = {sid: [] for sid in wanted}
    for interest in rows:
        interests[interest.subscriber_id].append(interest)
    items: dict[int, list[tuple[DigestItem, Paper]]] = {d.id: [] for d in digests}
    for item, paper in session.exec(
            select(DigestItem, Paper).join(Paper, Paper.id == DigestItem.paper_id)
            .where(col(DigestItem.digest_id).in_(list(items))).order_by(DigestItem.rank)):
        items[item.digest_id].append((item, paper))
    linked = {v for rows in items.values() for item, _ in rows for v in item.versions or []}
    others = {p.id: p for p in session.exec(select(Paper).where(col(Paper.id).in_(linked)))} \
        if linked else {}
    statuses, failed = {}, []
    for digest in digests:
        subscriber, rows = subscribers.get(digest.subscriber_id), items[digest.id]
        if subscriber is None or not rows:
            statuses[digest.id] = digest.status  # nothing to compose: the caller skips it
            continue
        with logs.digest_scope(digest.id, digest.subscriber_id):
            try:
                values = _composed(session, digest, subscriber, interests[subscriber.id],
                                   rows, others)
            except DBAPIError:
                raise
            except Exception:
                if strict:
                    raise
                log.exception("composing digest %s failed", digest.id)
                failed.append(digest.id)
                continue
            claimed = session.exec(  # no in-memory sync: its cost grows with the session's rows
                update(Digest).where(Digest.id == digest.id, Digest.status.in_(RECOMPOSABLE))
                .values(**values).execution_options(synchronize_session=False)).rowcount
            if not claimed:
                log.info("digest %s was claimed while composing; its stored copy stands",
                         digest.id)
    session.commit()
    done = [d.id for d in digests]
    statuses.update(session.exec(select(Digest.id, Digest.status)
                                 .where(col(Digest.id).in_(done))).all())
    return statuses, failed


def _composed(session: Session, digest: Digest, subscriber: Subscriber,
              interests: list[Interest], rows: list, others: dict[str, Paper]) -> dict:
    """The stored fields of one composed digest (writer + render), written by the caller.
    Each item's stored reasons are worded here, in the subscriber's language; an item
    prepared before reasons were data shows its stored English words. `others`: the rows
    of the items' other versions, by id."""
    picks = [Pick.of(paper, item.score, reasons_from_json(item.reasons), item.reason,
                     [others[v] for v in item.versions or [] if v in others])
             for item, paper in rows]
    topics = [i.value for i in interests if i.kind in TOPIC_KINDS]
    writing = synthesize.write(session, picks, locale=subscriber.locale, topics=topics,
                               digest_id=digest.id)
    rendered = render_digest(build_view(digest, subscriber, picks, interests, writing))
    return {
        "subject": rendered.subject, "preheader": rendered.preheader,
        "synthesis": writing.synthesis, "writer": (writing.writer or "")[:100],
        "html": rendered.html, "text": rendered.text, "status": DigestStatus.COMPOSED,
        "composed_at": utcnow(),
        "error": f"synthesis fell back: {writing.fallback_reason}"
        if writing.fallback_reason else None,
    }
