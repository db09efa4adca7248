"""A subscriber's archive: their past digests, newest first, and a search over every paper
they were ever sent (title, authors, abstract and the summary they read), with their vote.

Read by the archive page (`web/archive_pages.py`) and `bench/archive.py`. One portable
query for SQLite and PostgreSQL: a year of daily digests is a few thousand rows per
subscriber, reached through the (subscriber_id, local_date) unique index and
digestitem.digest_id, so a LIKE scan of that subscriber's rows is milliseconds and needs no
full-text index (see the bench). User input is searched literally: `%`, `_` and `\\` are
escaped, each word must match (AND), CJK text matches as a substring.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from sqlalchemy import String, and_, cast, exists, func, or_
from sqlmodel import Session, col, select

from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Paper,
    PaperSummary,
    Rating,
    Subscriber,
)
from newsletter.locale.i18n import Message, lazy

PER_PAGE = 20
MAX_PAGE = 1000  # far past a decade of daily digests; a bigger number is read as this
MAX_QUERY = 200  # characters
MAX_WORDS = 8
LISTED = (DigestStatus.SENT, DigestStatus.SKIPPED)  # a skipped day says why
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class QueryError(ValueError):
    """A search the archive refuses to run, with the words to show."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.text("en"))
        self.message = message

    def text(self, locale: str) -> str:
        return self.message.text(locale)


TOO_LONG = lazy.gettext("Search terms are limited to %(num)s characters.", num=MAX_QUERY)
TOO_MANY = lazy.gettext("Search for at most %(num)s words at once.", num=MAX_WORDS)


def search_words(query: str | None) -> list[str]:
    """The words to look for (empty: no search), or QueryError for input we refuse."""
    query = _CONTROL.sub(" ", query or "").strip()
    if len(query) > MAX_QUERY:
        raise QueryError(TOO_LONG)
    words = list(dict.fromkeys(w.lower() for w in query.split()))
    if len(words) > MAX_WORDS:
        raise QueryError(TOO_MANY)
    return words


def page_number(raw: str | None) -> int:
    """A page number from the query string; anything odd is page 1."""
    try:
        return min(max(int(raw or 1), 1), MAX_PAGE)
    except ValueError:
        return 1


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(word: str, locale: str):
    """One word in the title, authors, abstract or the summary the subscriber read.
    Authors are a JSON column: its text may hold non-ASCII names \\u-escaped, so the word is
    matched in that form too."""
    pattern, as_json = _like(word), _like(json.dumps(word)[1:-1])
    authors = cast(Paper.authors, String)
    summary = exists().where(PaperSummary.paper_id == Paper.id, PaperSummary.locale == locale,
                             col(PaperSummary.text).ilike(pattern, escape="\\"))
    in_authors = [authors.ilike(p, escape="\\") for p in dict.fromkeys((pattern, as_json))]
    return or_(col(Paper.title).ilike(pattern, escape="\\"), *in_authors,
               col(Paper.abstract).ilike(pattern, escape="\\"), summary)


@dataclass
class DigestRow:
    digest: Digest
    papers: int


@dataclass
class Hit:
    paper: Paper
    digest_id: int
    date: dt.date
    rating: int | None  # +1 more, -1 less like this, None: not rated
    summary: str | None  # what the subscriber read, in their language, if stored


@dataclass
class Page:
    rows: list
    page: int
    has_next: bool


def digests(session: Session, subscriber: Subscriber, page: int = 1,
            per_page: int = PER_PAGE) -> Page:
    """One page of the subscriber's sent (and skipped) digests, newest first."""
    found = session.exec(
        select(Digest).where(Digest.subscriber_id == subscriber.id,
                             col(Digest.status).in_(LISTED))
        .order_by(col(Digest.local_date).desc())
        .offset((page - 1) * per_page).limit(per_page + 1)).all()
    shown = found[:per_page]
    counts = dict(session.exec(
        select(DigestItem.digest_id, func.count()).where(
            col(DigestItem.digest_id).in_([d.id for d in shown]))
        .group_by(DigestItem.digest_id)).all()) if shown else {}
    rows = [DigestRow(d, counts.get(d.id, 0) if d.status == DigestStatus.SENT else 0)
            for d in shown]
    return Page(rows, page, len(found) > per_page)


def search(session: Session, subscriber: Subscriber, words: list[str], page: int = 1,
           per_page: int = PER_PAGE) -> Page:
    """Papers sent to the subscriber matching every word, newest digest first."""
    found = session.exec(search_statement(subscriber, words, page, per_page)).all()
    shown = found[:per_page]
    summaries = summaries_of(session, [row[0].id for row in shown], subscriber.locale)
    hits = [Hit(paper, digest_id, day, value, summaries.get(paper.id))
            for paper, digest_id, day, value in shown]
    return Page(hits, page, len(found) > per_page)


def search_statement(subscriber: Subscriber, words: list[str], page: int, per_page: int):
    """The one query behind `search` (bench/archive.py explains it on both databases)."""
    locale = subscriber.locale
    return (select(Paper, Digest.id, Digest.local_date, Rating.value)
             .join(DigestItem, DigestItem.paper_id == Paper.id)
             .join(Digest, Digest.id == DigestItem.digest_id)
             .outerjoin(Rating, and_(Rating.subscriber_id == subscriber.id,
                                     Rating.paper_id == Paper.id))
             .where(Digest.subscriber_id == subscriber.id, Digest.status == DigestStatus.SENT,
                    *[_matches(word, locale) for word in words])
             .order_by(col(Digest.local_date).desc(), DigestItem.rank)
             .offset((page - 1) * per_page).limit(per_page + 1))


def summaries_of(session: Session, paper_ids: list[str], locale: str) -> dict[str, str]:
    """The latest stored summary of each paper in this language."""
    if not paper_ids:
        return {}
    rows = session.exec(select(PaperSummary.paper_id, PaperSummary.text)
                        .where(col(PaperSummary.paper_id).in_(paper_ids),
                               PaperSummary.locale == locale)
                        .order_by(PaperSummary.created_at)).all()
    return dict(rows)  # the newest last, so it wins
