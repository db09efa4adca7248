"""The reading list: papers a subscriber saved from a card (the email's signed "Save" link,
or the archive's Save buttons), newest saved first.

Idempotent both ways: saving a saved paper changes nothing (INSERT ... ON CONFLICT DO
NOTHING, so two fetches at once make one row) and unsaving an unsaved one is a no-op.
Per subscriber; in their data export and deleted with their account (lifecycle).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from newsletter.core.db import insert_ignore
from newsletter.core.models import Digest, DigestItem, Paper, SavedPaper, Subscriber
from newsletter.core.time import utcnow
from newsletter.subscribers.archive import PER_PAGE, Page


def save(session: Session, subscriber: Subscriber, paper: Paper, origin: str = "web") -> bool:
    """Put the paper on the list; True if it was not on it yet. Commits."""
    added = session.execute(insert_ignore(session, SavedPaper, "subscriber_id", "paper_id")
                            .values(subscriber_id=subscriber.id, paper_id=paper.id,
                                    origin=origin[:16], saved_at=utcnow())).rowcount
    session.commit()
    return bool(added)


def unsave(session: Session, subscriber: Subscriber, paper_id: str) -> bool:
    """Take the paper off the list; True if it was on it. Commits."""
    removed = session.execute(delete(SavedPaper).where(
        SavedPaper.subscriber_id == subscriber.id, SavedPaper.paper_id == paper_id)).rowcount
    session.commit()
    return bool(removed)


ACTIONS = ("save", "unsave")  # what the forms may ask


def apply(session: Session, subscriber: Subscriber, paper: Paper, action: str,
          origin: str) -> bool:
    """One of ACTIONS; True if the list changed."""
    if action == "save":
        return save(session, subscriber, paper, origin)
    return unsave(session, subscriber, paper.id)


def was_sent(session: Session, subscriber: Subscriber, paper_id: str) -> Paper | None:
    """The paper, if it was in one of the subscriber's digests (what the web may save)."""
    return session.exec(select(Paper).join(DigestItem, DigestItem.paper_id == Paper.id)
                        .join(Digest, Digest.id == DigestItem.digest_id)
                        .where(Digest.subscriber_id == subscriber.id, Paper.id == paper_id)
                        .limit(1)).first()


def last_sent(session: Session, subscriber: Subscriber, paper_id: str) -> dt.datetime | None:
    """When the latest digest that carried this paper to the subscriber was sent (a Save
    link opened within a minute of that is a link checker's, see clicks.Fetch)."""
    return session.exec(select(func.max(Digest.sent_at))
                        .join(DigestItem, DigestItem.digest_id == Digest.id)
                        .where(Digest.subscriber_id == subscriber.id,
                               DigestItem.paper_id == paper_id)).one()


def saved_among(session: Session, subscriber: Subscriber, paper_ids: list[str]) -> set[str]:
    if not paper_ids:
        return set()
    return set(session.exec(select(SavedPaper.paper_id).where(
        SavedPaper.subscriber_id == subscriber.id, col(SavedPaper.paper_id).in_(paper_ids))))


def reading_list(session: Session, subscriber: Subscriber, page: int = 1,
                 per_page: int = PER_PAGE) -> Page:
    """One page of (SavedPaper, Paper), newest saved first."""
    found = session.exec(select(SavedPaper, Paper).join(Paper, Paper.id == SavedPaper.paper_id)
                         .where(SavedPaper.subscriber_id == subscriber.id)
                         .order_by(col(SavedPaper.saved_at).desc(), col(SavedPaper.id).desc())
                         .offset((page - 1) * per_page).limit(per_page + 1)).all()
    return Page(list(found[:per_page]), page, len(found) > per_page)


def count(session: Session, subscriber: Subscriber) -> int:
    return session.exec(select(func.count()).select_from(SavedPaper)
                        .where(SavedPaper.subscriber_id == subscriber.id)).one()
