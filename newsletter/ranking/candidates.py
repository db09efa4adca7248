"""Select and rank the papers for one subscriber's digest; runs in `prepare`, never writes.

The database side of ranking: which papers are candidates (the window since the last sent
digest, never a paper this subscriber already had), the subscriber's interests and feedback
as a `rank.Profile`; `ranking.rank` does the scoring and `ranking.reasons` says why.

Indexing a week of papers costs seconds, so the index of the whole window is built once and
kept (per process) until the window's papers change; each subscriber only blocks the papers
outside their own window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from newsletter.core.config import get_settings
from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Feedback,
    Interest,
    InterestKind,
    LibraryItem,
    Paper,
    Rating,
    Subscriber,
)
from newsletter.core.text import surname, title_key
from newsletter.core.time import as_utc, utcnow
from newsletter.harvest.articletype import RESEARCH
from newsletter.harvest.sources import source_aliases
from newsletter.ranking import learning, rank
from newsletter.ranking.index import Corpus, Doc
from newsletter.ranking.reasons import Reason, followed_author, interests_matched, reasons

# A replacement (new version) is a candidate too: `_already_sent` drops it if this subscriber
# ever got the paper. None: sources without announce types (bioRxiv, journals).
ANNOUNCE_TYPES = {"new", "cross", "replace", "replace-cross", None}
_VERSION = re.compile(r"v\d+$")
MIN_TITLE_KEY = 24  # shorter titles ("Editorial", "Reply") say nothing about the work


@dataclass
class Pick:
    paper: Paper
    score: float
    # English words stored by digests prepared before reasons were data (migration 0004);
    # shown as they are when `reasons` is empty. Empty for every pick made now.
    reason: str = ""
    matched: list[str] = field(default_factory=list)  # the interests matched, as typed
    followed_author: str | None = None  # as the paper spells the name
    # Why, as data (ranking.reasons), strongest first: worded where shown, in the reader's
    # language (newsletter.locale.reasons); stored on the DigestItem as JSON.
    reasons: list[Reason] = field(default_factory=list)
    # The same work's other rows (its preprint or journal version: one paper, once), which
    # the card links too; their ids are stored on the DigestItem and count as sent.
    versions: list[Paper] = field(default_factory=list)

    @classmethod
    def of(cls, paper: Paper, score: float, found: list[Reason], legacy: str = "",
           versions: list[Paper] | None = None) -> Pick:
        """A pick whose interests and followed author are read off its reasons."""
        return cls(paper, score, legacy, interests_matched(found), followed_author(found),
                   list(found), list(versions or []))


def _canonical(paper_id: str) -> str:
    return _VERSION.sub("", paper_id)


def building_digest(session: Session, subscriber: Subscriber) -> Digest | None:
    """The digest being prepared (pending), whose own items must not count as 'already sent'."""
    return session.exec(
        select(Digest).where(Digest.subscriber_id == subscriber.id,
                             Digest.status == DigestStatus.PENDING)
        .order_by(col(Digest.local_date).desc())
    ).first()


def _window_days(subscriber: Subscriber) -> int:
    return 7 if subscriber.frequency == "weekly" else get_settings().candidate_days


def _window_starts(session: Session, subscribers: list[Subscriber],
                   now: dt.datetime) -> dict[int, dt.datetime]:
    """Per subscriber, where their window starts: when their last sent digest was made, but
    never more than the window (a week) ago. One query for any number of subscribers.

    The digest row is created just before its papers are selected, so `created_at` is the
    moment its candidates were fixed; anything first seen later belongs to the next one.
    """
    starts = {s.id: now - dt.timedelta(days=_window_days(s)) for s in subscribers}
    made = session.exec(
        select(Digest.subscriber_id, Digest.created_at, Digest.sent_at)
        .where(col(Digest.subscriber_id).in_(list(starts)), Digest.status == DigestStatus.SENT)
    ).all()
    for subscriber_id, created, sent in made:
        if created or sent:
            starts[subscriber_id] = max(starts[subscriber_id], as_utc(created or sent))
    return starts


@dataclass
class Sent:
    """What a subscriber already had, in every form the same work may come back in: ids
    (versions collapsed, the other versions a card linked included), DOIs, and titles (key:
    (source, author surnames)) for a journal version that appears after its preprint left
    the window."""

    ids: set[str] = field(default_factory=set)
    dois: set[str] = field(default_factory=set)
    titles: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=dict)


def _already_sent(session: Session, requests: list[tuple[Subscriber, Digest | None]]
                  ) -> dict[int, Sent]:
    """Per subscriber: the papers in their digests other than the one being built. One query
    for any number of subscribers."""
    building = {s.id: (d.id if d is not None else None) for s, d in requests}
    out = {sid: Sent() for sid in building}
    rows = session.exec(
        select(Digest.subscriber_id, Digest.id, Paper.id, Paper.doi, Paper.title, Paper.authors,
               Paper.source, DigestItem.versions)
        .join(DigestItem, DigestItem.paper_id == Paper.id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(col(Digest.subscriber_id).in_(list(building)))
    ).all()
    for subscriber_id, digest_id, pid, doi, title, authors, source, versions in rows:
        if digest_id == building[subscriber_id]:
            continue
        sent = out[subscriber_id]
        sent.ids.update(_canonical(p) for p in [pid, *(versions or [])])
        if doi:
            sent.dois.add(doi.lower())
        if len(key := title_key(title)) >= MIN_TITLE_KEY:
            sent.titles.setdefault(key, []).append(((source or "").casefold(),
                                                    _surnames(authors or [])))
    return out


def profile_for(session: Session, subscriber: Subscriber) -> rank.Profile:
    return profiles_for(session, [subscriber])[subscriber.id]


def profiles_for(session: Session, subscribers: list[Subscriber],
                 interests: list[Interest] | None = None) -> dict[int, rank.Profile]:
    """Interests and feedback as `rank.Profile`s, two queries for any number of subscribers
    (one if the caller has already read these subscribers' `interests`)."""
    ids = [s.id for s in subscribers]
    by_kind: dict[int, dict[str, list[str]]] = {
        sid: {kind: [] for kind in InterestKind} for sid in ids}
    if interests is None:
        interests = session.exec(
            select(Interest).where(col(Interest.subscriber_id).in_(ids))).all()
    for interest in sorted(interests, key=lambda i: i.id):
        by_kind[interest.subscriber_id].setdefault(interest.kind, []).append(interest.value)
    signals: dict[int, list[tuple[str, str]]] = {sid: [] for sid in ids}
    feedback = session.exec(
        select(Feedback.subscriber_id, Paper.title, Feedback.signal)
        .join(Feedback, Feedback.paper_id == Paper.id)
        .where(col(Feedback.subscriber_id).in_(ids))
    ).all()
    for subscriber_id, title, signal in feedback:
        signals[subscriber_id].append((title, signal))
    for subscriber_id, title, value in session.exec(  # ratings nudge terms as their links did
            select(Rating.subscriber_id, Paper.title, Rating.value)
            .join(Rating, Rating.paper_id == Paper.id)
            .where(col(Rating.subscriber_id).in_(ids)).order_by(Rating.id)).all():
        signals[subscriber_id].append((title, "more" if value > 0 else "less"))
    return {sid: rank.Profile(
        keywords=kinds[InterestKind.KEYWORD], categories=kinds[InterestKind.CATEGORY],
        authors=kinds[InterestKind.AUTHOR], excludes=kinds[InterestKind.EXCLUDE],
        sources=[alias for value in kinds[InterestKind.SOURCE] for alias in source_aliases(value)],
        term_weights=rank.feedback_weights(signals[sid]),
    ) for sid, kinds in by_kind.items()}


def _doc(paper: Paper) -> Doc:
    seen = as_utc(paper.first_seen)
    day = (paper.published or seen.date()).toordinal()
    return Doc(title=paper.title, abstract=paper.abstract, authors=paper.authors,
                    categories=paper.categories, primary_category=paper.primary_category,
                    source=paper.source, journal=paper.journal or "",
                    timestamp=day * 1e9 + seen.timestamp())  # announced day, then first seen


def same_work(docs: list[Doc]) -> list[list[int]]:
    """Groups of papers that are one work seen twice (an arXiv preprint and its journal
    version): near-identical titles (case, punctuation and markup folded away), at least one
    author surname in common, from different sources (two arXiv papers are two papers).
    Short titles ("Editorial") never group."""
    by_title: dict[str, list[int]] = {}
    for i, doc in enumerate(docs):
        key = title_key(doc.title)
        if len(key) >= MIN_TITLE_KEY:
            by_title.setdefault(key, []).append(i)
    groups = []
    for where in by_title.values():
        if len(where) < 2:
            continue
        surnames = [_surnames(docs[i].authors) for i in where]
        group = [i for n, i in enumerate(where)
                 if any(surnames[n] & surnames[m] and _origin(docs[i]) != _origin(docs[j])
                        for m, j in enumerate(where) if m != n)]
        if len(group) > 1:
            groups.append(group)
    return groups


def _origin(doc: Doc) -> str:
    return doc.source.casefold()


def _surnames(authors: list[str]) -> frozenset[str]:
    # by the one name key: "Zhang A." and "A. Zhang" share "zhang", "Smith J." and "Jones J."
    # share nothing
    return frozenset(found for a in authors if (found := surname(a)))


@dataclass
class WindowIndex:
    """Every paper of the widest window, indexed once for all subscribers."""

    key: tuple
    ids: list[str]
    first_seen: list[dt.datetime]
    announce_types: list[str | None]
    dois: list[str]
    corpus: Corpus
    article_types: list[str] = field(default_factory=list)
    # Derived once, so that blocking a subscriber's papers is a few array operations.
    position: dict[str, int] = field(default_factory=dict)
    seen_at: np.ndarray = field(default_factory=lambda: np.zeros(0))  # first_seen, epoch s
    wrong_type: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    not_research: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # news etc.
    by_canonical: dict[str, list[int]] = field(default_factory=dict)
    by_doi: dict[str, list[int]] = field(default_factory=dict)
    shared_dois: list[list[int]] = field(default_factory=list)  # papers that share a DOI
    by_title: dict[str, list[int]] = field(default_factory=dict)
    vectors_version: str | None = None  # of corpus.vectors, set by learning.attach_vectors
    # A preprint and its journal version without a shared DOI: the same title (folded) and
    # a shared author surname.
    shared_titles: list[list[int]] = field(default_factory=list)
    versions: dict[int, list[int]] = field(default_factory=dict)  # a paper's other rows

    def __post_init__(self) -> None:
        self.position = {pid: i for i, pid in enumerate(self.ids)}
        self.seen_at = np.asarray([as_utc(t).timestamp() for t in self.first_seen], np.float64)
        self.wrong_type = np.asarray([t not in ANNOUNCE_TYPES for t in self.announce_types],
                                     bool)
        self.not_research = np.asarray(
            [t != RESEARCH for t in self.article_types or [RESEARCH] * len(self.ids)], bool)
        for i, pid in enumerate(self.ids):
            self.by_canonical.setdefault(_canonical(pid), []).append(i)
        for i, doi in enumerate(self.dois):
            if doi:
                self.by_doi.setdefault(doi, []).append(i)
        self.shared_dois = [where for where in self.by_doi.values() if len(where) > 1]
        for i, doc in enumerate(self.corpus.docs):
            self.by_title.setdefault(title_key(doc.title), []).append(i)
        self.shared_titles = same_work(self.corpus.docs)
        for where in (*self.shared_dois, *self.shared_titles):
            for i in where:
                known = self.versions.setdefault(i, [])
                known.extend(j for j in where if j != i and j not in known)


_index: WindowIndex | None = None
_index_lock = threading.Lock()


def window_index(session: Session, now: dt.datetime) -> WindowIndex:
    """The index of papers first seen in the last week (or `candidate_days`), cached.

    The cache key is one aggregate query: a paper stored or changed moves max(updated_at)
    (harvest stamps every write), one deleted lowers the count, and a window that slid
    moves min or max(first_seen). Reading every (id, updated_at) cost ~18 ms a digest.
    """
    global _index
    earliest = now - dt.timedelta(days=max(7, get_settings().candidate_days))
    in_window = (Paper.first_seen >= earliest, Paper.first_seen <= now)
    key = tuple(session.exec(
        select(func.count(), func.max(Paper.updated_at), func.min(Paper.first_seen),
               func.max(Paper.first_seen)).where(*in_window)).one())
    with _index_lock:
        if _index is not None and _index.key == key:
            return _index
    papers = session.exec(select(Paper).where(*in_window).order_by(Paper.id)).all()
    built = WindowIndex(
        key=key,
        ids=[p.id for p in papers], first_seen=[as_utc(p.first_seen) for p in papers],
        announce_types=[p.announce_type or None for p in papers],
        dois=[(p.doi or "").lower() for p in papers],
        article_types=[p.article_type or RESEARCH for p in papers],
        corpus=Corpus([_doc(p) for p in papers]),
    )
    with _index_lock:
        _index = built
    return built


def _had(index: WindowIndex, sent: Sent) -> np.ndarray:
    """The index's papers this subscriber already had, in any of the work's versions."""
    had = np.zeros(len(index.ids), bool)
    for pid in sent.ids:
        had[index.by_canonical.get(pid, [])] = True
    for doi in sent.dois:
        had[index.by_doi.get(doi, [])] = True
    for key, earlier in sent.titles.items():  # a journal version after its preprint, or back
        for i in index.by_title.get(key, []):
            doc = index.corpus.docs[i]
            mine = _surnames(doc.authors)
            had[i] |= any(source != _origin(doc) and mine & names for source, names in earlier)
    for i in np.flatnonzero(had).tolist():
        had[index.versions.get(i, [])] = True
    return had


def _blocked(index: WindowIndex, since: dt.datetime, now: dt.datetime, sent: Sent, *,
             news: bool = False, sources: list[str] | None = None) -> frozenset[int]:
    """Papers of the index this subscriber may not get: outside their window, or had (in
    any version). Of a work's open versions one stays: the one from a source they chose,
    else the first. `news`: journals' news, comment, editorials and corrections may come."""
    start, end = as_utc(since).timestamp(), as_utc(now).timestamp()
    out = (index.seen_at < start) | (index.seen_at > end) | index.wrong_type | _had(index, sent)
    if not news:
        out |= index.not_research
    hide_twins(index, out, sources)
    return frozenset(np.flatnonzero(out).tolist())


def hide_twins(index: WindowIndex, out: np.ndarray, sources: list[str] | None) -> None:
    """A preprint and its journal version are one paper: of each work's versions not yet in
    `out` one stays, the one from a source the reader chose, else the first; the others are
    marked in `out` (the digest and the landing preview alike)."""
    wanted = {s.casefold() for s in sources or []}
    for where in (*index.shared_dois, *index.shared_titles):
        open_ = [i for i in where if not out[i]]
        chosen = [i for i in open_ if {_origin(index.corpus.docs[i]),
                                       index.corpus.docs[i].journal.casefold()} & wanted]
        keep = (chosen or open_ or [None])[0]
        out[[i for i in open_ if i != keep]] = True


def own_papers(session: Session, index: WindowIndex, subscriber_ids: list[int]
                ) -> dict[int, frozenset[int]]:
    """Papers of the index that are in a subscriber's own library (by arXiv id, DOI or
    title) or that they already rated: never offered back as cards."""
    found: dict[int, set[int]] = {}
    for sid, arxiv_id, doi, title in session.exec(
            select(LibraryItem.subscriber_id, LibraryItem.arxiv_id, LibraryItem.doi,
                   LibraryItem.title).where(col(LibraryItem.subscriber_id).in_(subscriber_ids))):
        where = found.setdefault(sid, set())
        where.update(index.by_canonical.get(f"arxiv:{arxiv_id}", []) if arxiv_id else [])
        where.update(index.by_doi.get(doi.lower(), []) if doi else [])
        where.update(index.by_title.get(title_key(title), []))
    for sid, paper_id in session.exec(select(Rating.subscriber_id, Rating.paper_id).where(
            col(Rating.subscriber_id).in_(subscriber_ids))):
        found.setdefault(sid, set()).update(index.by_canonical.get(_canonical(paper_id), []))
    return {sid: frozenset(where) for sid, where in found.items() if where}


def select_batch(session: Session, requests: list[tuple[Subscriber, Digest | None]], *,
                 now: dt.datetime | None = None, limit: int | None = None,
                 interests: list[Interest] | None = None) -> list[list[Pick]]:
    """`select_papers` for many subscribers at once: a few queries for all of them and one
    `rank.rank` call per distinct digest size (the engine is vectorised across profiles).
    Each request is (subscriber, the digest being built); picks come back in that order.
    `interests`: all of these subscribers' interests, if the caller has read them already."""
    if not requests:
        return []
    now = as_utc(now or utcnow())
    index = window_index(session, now)
    subscribers = [s for s, _ in requests]
    starts = _window_starts(session, subscribers, now)
    had = _already_sent(session, requests)
    profiles = profiles_for(session, subscribers, interests)
    learning.attach(session, index, profiles)
    own = own_papers(session, index, [s.id for s in subscribers])
    by_limit: dict[int, list[int]] = {}
    for n, subscriber in enumerate(subscribers):
        profile = profiles[subscriber.id]
        profile.blocked = _blocked(index, starts[subscriber.id], now, had[subscriber.id],
                                   sources=profile.sources)
        if own.get(subscriber.id):
            profile.blocked = profile.blocked | own[subscriber.id]
        if len(profile.blocked) < len(index.ids):
            by_limit.setdefault(limit or subscriber.max_papers, []).append(n)
    ranked = _rank_by_size(index, [profiles[s.id] for s in subscribers], by_limit)
    _add_news(index, subscribers, profiles, ranked, starts, had, now, limit)
    wanted = {index.ids[j] for picks in ranked.values() for i, _, _ in picks
              for j in (i, *index.versions.get(i, []))}
    papers = {p.id: p for p in session.exec(
        select(Paper).where(col(Paper.id).in_(list(wanted))))} if wanted else {}
    out: list[list[Pick]] = []
    for n, subscriber in enumerate(subscribers):
        profile, picks = profiles[subscriber.id], []
        for i, score, _followed in ranked.get(n, []):
            paper = papers.get(index.ids[i])
            if paper is None:  # deleted since the index was built
                continue
            versions = [papers[index.ids[j]] for j in index.versions.get(i, [])
                        if index.ids[j] in papers]
            picks.append(Pick.of(paper, round(float(score), 3),
                                 reasons(index.corpus, profile, i), versions=versions))
        out.append(picks)
    return out


def _rank_by_size(index: WindowIndex, profiles: list[rank.Profile],
                  by_limit: dict[int, list[int]]) -> dict[int, list[tuple[int, float, bool]]]:
    """One `rank.rank` call per distinct digest size; picks per request position."""
    ranked: dict[int, list[tuple[int, float, bool]]] = {}
    for size, members in by_limit.items():
        ranking = rank.rank(index.corpus, [profiles[n] for n in members], limit=size)
        ranked.update({n: ranking.for_profile(row) for row, n in enumerate(members)})
    return ranked


def _add_news(index: WindowIndex, subscribers: list[Subscriber],
              profiles: dict[int, rank.Profile], ranked: dict[int, list[tuple[int, float, bool]]],
              starts: dict[int, dt.datetime], had: dict, now: dt.datetime,
              limit: int | None) -> None:
    """Research first, always: a subscriber who asked for journal news gets it only in the
    room the research left, ranked among themselves (a second pass over the non-research)."""
    if not index.not_research.any():
        return
    research = set(np.flatnonzero(~index.not_research).tolist())
    extra: list[rank.Profile] = []
    owners: list[int] = []
    by_limit: dict[int, list[int]] = {}
    for n, subscriber in enumerate(subscribers):
        room = (limit or subscriber.max_papers) - len(ranked.get(n, []))
        if not subscriber.include_news or room <= 0:
            continue
        closed = _blocked(index, starts[subscriber.id], now, had[subscriber.id], news=True,
                          sources=profiles[subscriber.id].sources)
        profile = dataclasses.replace(profiles[subscriber.id],
                                      blocked=frozenset(closed | research))
        if len(profile.blocked) < len(index.ids):
            by_limit.setdefault(room, []).append(len(extra))
            extra.append(profile)
            owners.append(n)
    for row, picks in _rank_by_size(index, extra, by_limit).items():
        ranked.setdefault(owners[row], []).extend(picks)


def select_papers(
    session: Session, subscriber: Subscriber, *, now: dt.datetime | None = None,
    limit: int | None = None, digest: Digest | None = None,
) -> list[Pick]:
    """The ranked picks for `subscriber`'s next digest; followed authors' papers first.

    `digest` is the digest being built (its own items do not count as sent); by default the
    subscriber's pending digest.
    """
    building = digest if digest is not None else building_digest(session, subscriber)
    return select_batch(session, [(subscriber, building)], now=now, limit=limit)[0]
