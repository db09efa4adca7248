"""Select and rank the papers for one subscriber's digest; runs in `prepare`, never writes.

The database side of ranking: which papers are candidates (the window since the last sent
digest, never a paper this subscriber already had), the subscriber's interests and feedback
as a `rank.Profile`; `newsletter.rank` does the scoring and the reasons.

Indexing a week of papers costs seconds, so the index of the whole window is built once and
kept (per process) until the window's papers change; each subscriber only blocks the papers
outside their own window.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from newsletter import rank
from newsletter.config import get_settings
from newsletter.i18n import reason_text
from newsletter.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Feedback,
    Interest,
    InterestKind,
    Paper,
    Subscriber,
    utcnow,
)

# A replacement (new version) is a candidate too: `already_sent` drops it if this subscriber
# ever got the paper. None: sources without announce types (bioRxiv, journals).
ANNOUNCE_TYPES = {"new", "cross", "replace", "replace-cross", None}
_VERSION = re.compile(r"v\d+$")


@dataclass
class Pick:
    paper: Paper
    score: float
    reason: str  # English words: "matches 'distillation' in the title", "by Zhuokai Zhao"
    matched: list[str] = field(default_factory=list)  # topics / authors / categories matched
    followed_author: str | None = None
    # The same reasons as data (kind, value, gloss), strongest first: emails word them in
    # the subscriber's language (i18n.reason_text); `reason` is their English rendering.
    reasons: list[rank.Reason] = field(default_factory=list)


def _canonical(paper_id: str) -> str:
    return _VERSION.sub("", paper_id)


def building_digest(session: Session, subscriber: Subscriber) -> Digest | None:
    """The digest being prepared (pending), whose own items must not count as 'already sent'."""
    return session.exec(
        select(Digest).where(Digest.subscriber_id == subscriber.id,
                             Digest.status == DigestStatus.PENDING)
        .order_by(col(Digest.local_date).desc())
    ).first()


def _stored(moment: dt.datetime) -> dt.datetime:
    """Match `utcnow()`'s kind (naive or aware UTC), so comparisons with columns work."""
    if utcnow().tzinfo is None:
        return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def window_start(session: Session, subscriber: Subscriber, now: dt.datetime) -> dt.datetime:
    """Since the last sent digest was made, but never more than the window (a week).

    The digest row is created just before its papers are selected, so `created_at` is the
    moment its candidates were fixed; anything first seen later belongs to the next one.
    """
    days = 7 if subscriber.frequency == "weekly" else get_settings().candidate_days
    earliest = now - dt.timedelta(days=days)
    made = session.exec(
        select(Digest.created_at, Digest.sent_at)
        .where(Digest.subscriber_id == subscriber.id, Digest.status == DigestStatus.SENT)
    ).all()
    times = [_stored(created or sent) for created, sent in made if created or sent]
    return max([earliest, *times])


def already_sent(session: Session, subscriber: Subscriber,
                 building: Digest | None) -> tuple[set[str], set[str]]:
    """Ids (versions collapsed) and DOIs of papers in this subscriber's other digests."""
    query = (select(Paper.id, Paper.doi).join(DigestItem, DigestItem.paper_id == Paper.id)
             .join(Digest, Digest.id == DigestItem.digest_id)
             .where(Digest.subscriber_id == subscriber.id))
    if building is not None:
        query = query.where(Digest.id != building.id)
    rows = session.exec(query).all()
    return {_canonical(pid) for pid, _ in rows}, {doi.lower() for _, doi in rows if doi}


def profile_for(session: Session, subscriber: Subscriber) -> rank.Profile:
    interests = session.exec(
        select(Interest).where(Interest.subscriber_id == subscriber.id).order_by(Interest.id)
    ).all()
    by_kind: dict[str, list[str]] = {kind: [] for kind in InterestKind.ALL}
    for interest in interests:
        by_kind.setdefault(interest.kind, []).append(interest.value)
    feedback = session.exec(
        select(Paper.title, Feedback.signal).join(Feedback, Feedback.paper_id == Paper.id)
        .where(Feedback.subscriber_id == subscriber.id)
    ).all()
    return rank.Profile(
        keywords=by_kind[InterestKind.KEYWORD], categories=by_kind[InterestKind.CATEGORY],
        authors=by_kind[InterestKind.AUTHOR], excludes=by_kind[InterestKind.EXCLUDE],
        sources=by_kind[InterestKind.SOURCE],
        term_weights=rank.feedback_weights([(title, signal) for title, signal in feedback]),
    )


def _doc(paper: Paper) -> rank.Doc:
    seen = _stored(paper.first_seen)
    seen = seen.replace(tzinfo=dt.UTC) if seen.tzinfo is None else seen
    day = (paper.published or seen.date()).toordinal()
    return rank.Doc(title=paper.title, abstract=paper.abstract, authors=paper.authors,
                    categories=paper.categories, primary_category=paper.primary_category,
                    source=paper.source,
                    timestamp=day * 1e9 + seen.timestamp())  # announced day, then first seen


@dataclass
class WindowIndex:
    """Every paper of the widest window, indexed once for all subscribers."""

    key: int
    ids: list[str]
    first_seen: list[dt.datetime]
    announce_types: list[str | None]
    dois: list[str]
    corpus: rank.Corpus


_index: WindowIndex | None = None
_index_lock = threading.Lock()


def window_index(session: Session, now: dt.datetime) -> WindowIndex:
    """The index of papers first seen in the last week (or `candidate_days`), cached."""
    global _index
    earliest = now - dt.timedelta(days=max(7, get_settings().candidate_days))
    in_window = (Paper.first_seen >= earliest, Paper.first_seen <= now)
    key = hash(tuple(session.exec(
        select(Paper.id, Paper.updated_at).where(*in_window).order_by(Paper.id)).all()))
    with _index_lock:
        if _index is not None and _index.key == key:
            return _index
    papers = session.exec(select(Paper).where(*in_window).order_by(Paper.id)).all()
    built = WindowIndex(
        key=hash(tuple((p.id, p.updated_at) for p in papers)),
        ids=[p.id for p in papers], first_seen=[_stored(p.first_seen) for p in papers],
        announce_types=[p.announce_type or None for p in papers],
        dois=[(p.doi or "").lower() for p in papers],
        corpus=rank.Corpus([_doc(p) for p in papers]),
    )
    with _index_lock:
        _index = built
    return built


def blocked(session: Session, subscriber: Subscriber, now: dt.datetime,
            building: Digest | None, index: WindowIndex) -> frozenset[int]:
    """Papers of the index this subscriber may not get: outside their window, or had."""
    since = window_start(session, subscriber, now)
    sent_ids, seen_dois = already_sent(session, subscriber, building)
    out = set()
    for i, (pid, seen, kind, doi) in enumerate(zip(index.ids, index.first_seen,
                                                   index.announce_types, index.dois)):
        if (seen < since or seen > now or kind not in ANNOUNCE_TYPES
                or _canonical(pid) in sent_ids or (doi and doi in seen_dois)):
            out.add(i)
        elif doi:
            seen_dois.add(doi)  # a preprint and its journal version: one paper
    return frozenset(out)


def select_papers(
    session: Session, subscriber: Subscriber, *, now: dt.datetime | None = None,
    limit: int | None = None, digest: Digest | None = None,
) -> list[Pick]:
    """The ranked picks for `subscriber`'s next digest; followed authors' papers first.

    `digest` is the digest being built (its own items do not count as sent); by default the
    subscriber's pending digest.
    """
    now = _stored(now or utcnow())
    limit = limit or subscriber.max_papers
    building = digest if digest is not None else building_digest(session, subscriber)
    index = window_index(session, now)
    profile = profile_for(session, subscriber)
    profile.blocked = blocked(session, subscriber, now, building, index)
    if len(profile.blocked) == len(index.ids):
        return []
    picks = []
    for i, score, _followed in rank.rank(index.corpus, [profile], limit=limit).for_profile(0):
        paper = session.get(Paper, index.ids[i])
        if paper is None:  # deleted since the index was built
            continue
        reasons, matched, followed = rank.reasons(index.corpus, profile, i)
        picks.append(Pick(paper, round(float(score), 3), reason_text(reasons, "en"), matched,
                          followed, reasons))
    return picks


def explain_papers(session: Session, subscriber: Subscriber, papers: list[Paper]
                   ) -> list[tuple[list[rank.Reason], list[str], str | None]]:
    """(reasons, matched, followed author) per paper, recomputed from the subscriber's
    interests: what compose uses, since a digest item stores only the English words.

    The reasons depend only on each paper's own text and the profile (not on corpus
    statistics), so a corpus of just these papers gives what selection gave."""
    if not papers:
        return []
    corpus = rank.Corpus([_doc(p) for p in papers])
    profile = profile_for(session, subscriber)
    return [rank.reasons(corpus, profile, i) for i in range(len(papers))]


def explain_rows(picks: list[Pick]) -> list[dict]:
    """Rows for `newsletter preview EMAIL --explain`: rank, score, reason, id, title."""
    return [{"rank": i, "score": round(p.score, 2), "reason": p.reason, "id": p.paper.id,
             "title": p.paper.title} for i, p in enumerate(picks, start=1)]
