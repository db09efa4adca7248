"""Ratings: a subscriber's labelled examples, one per paper (+1 more / -1 less like this).

Written by the email's "more / less like this" links, the thumbs on the web preview and the
preferences page's "rate these papers"; read by `ranking.learning` (training) and
`ranking.candidates` (term nudges, and rated papers are never offered again). The last vote
wins; undo deletes it. Every change marks the subscriber's model for retraining.
"""

from __future__ import annotations

from sqlmodel import Session, select

from newsletter.core.models import Paper, Rating, Subscriber
from newsletter.core.time import utcnow
from newsletter.ranking import learning

SIGNALS = {"more": 1, "less": -1}


def rate(session: Session, subscriber: Subscriber, paper: Paper, value: int,
         origin: str = "web") -> Rating | None:
    """Record (or change, or with 0 undo) this subscriber's vote on a paper; commits."""
    if value not in (-1, 0, 1):
        raise ValueError(f"a rating is -1, 0 (undo) or 1, not {value!r}")
    row = session.exec(select(Rating).where(Rating.subscriber_id == subscriber.id,
                                            Rating.paper_id == paper.id)).first()
    if value == 0:
        if row is not None:
            session.delete(row)
            learning.mark_stale(session, subscriber.id)
            session.commit()
        return None
    if row is not None and row.value == value:  # a second click or a mail scanner
        return row
    row = row or Rating(subscriber_id=subscriber.id, paper_id=paper.id, value=value)
    row.value, row.origin, row.updated_at = value, origin[:16], utcnow()
    session.add(row)
    learning.mark_stale(session, subscriber.id)
    session.commit()
    return row


def ratings_of(session: Session, subscriber: Subscriber) -> dict[str, int]:
    return dict(session.exec(select(Rating.paper_id, Rating.value).where(
        Rating.subscriber_id == subscriber.id)).all())
