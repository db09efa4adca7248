"""Subscriber lifecycle: subscribe, confirm, preferences, pause, unsubscribe, export, delete.

Plain functions over a DB session, shared by the web pages, the JSON API and the CLI, so
every door validates the same way (`newsletter.subscribers.validation`). Each function
commits its own change. Bad input raises `validation.InvalidInput(field, key)`, which the
web words in the reader's language and the CLI prints in English. Concurrent requests for
one address are safe: the row is created with INSERT ... ON CONFLICT DO NOTHING and changed
under a row lock, and confirming is a conditional UPDATE that only one request wins. The
emails these changes call for are in `notices`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, delete, select, update

from newsletter.core import links
from newsletter.core.db import insert_ignore
from newsletter.core.models import (
    Digest,
    DigestItem,
    Event,
    Feedback,
    Interest,
    LibraryItem,
    Paper,
    Rating,
    SavedPaper,
    Subscriber,
    SubscriberModel,
    SubscriberStatus,
)
from newsletter.core.time import as_utc, utcnow
from newsletter.subscribers.validation import (
    KIND_OF,
    MAX_TOPICS,
    SCALARS,
    InvalidInput,
    normalize_email,
    validate,
)

PENDING_DAYS = links.CONFIRM_DAYS  # an unconfirmed subscription is forgotten after this long


def _apply(session: Session, subscriber: Subscriber, clean: dict[str, Any]) -> None:
    for name in SCALARS:
        if name in clean:
            setattr(subscriber, name, clean[name])
    session.add(subscriber)
    session.flush()
    for name, kind in KIND_OF.items():
        if name not in clean:
            continue
        session.exec(delete(Interest).where(Interest.subscriber_id == subscriber.id,
                                            Interest.kind == kind))
        for value in clean[name]:
            session.add(Interest(subscriber_id=subscriber.id, kind=kind, value=value))


# --- lifecycle ---------------------------------------------------------------------------

def find(session: Session, email: str, *, lock: bool = False) -> Subscriber | None:
    """The subscriber with this (normalized) address; `lock` holds their row (PostgreSQL's
    FOR UPDATE; SQLite has one writer anyway) until the caller commits."""
    query = select(Subscriber).where(Subscriber.email == email)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def _find_or_create(session: Session, address: str) -> Subscriber:
    """The row for `address`, created pending if new. Two requests at once both get the one
    row: the loser's INSERT is skipped (it waits for the winner's commit), then both lock it."""
    subscriber = find(session, address, lock=True)
    if subscriber is None:
        fresh = Subscriber(email=address)
        values = {c.name: getattr(fresh, c.name) for c in Subscriber.__table__.columns
                  if c.name != "id"}
        session.execute(insert_ignore(session, Subscriber, "email").values(**values))
        subscriber = find(session, address, lock=True)
    return subscriber


def subscribe(
    session: Session, email: str, *, keywords: Iterable[str] = (), categories: Iterable[str] = (),
    authors: Iterable[str] = (), excludes: Iterable[str] = (), sources: Iterable[str] = (),
    locale: str = "en", timezone: str = "UTC", send_hour: int = 7, frequency: str = "daily",
    weekday: int = 0, max_papers: int = 10, include_news: bool = False, confirmed: bool = False,
    source: str = "web",
) -> Subscriber:
    """Create a pending subscription (or an active one when `confirmed`, for operators).

    An anonymous subscribe never changes an active or paused subscriber (the caller shows
    the same page whatever happened, so nobody learns who is subscribed). A pending one
    takes the latest form; an unsubscribed one goes back to pending, and its old links die.
    """
    address = normalize_email(email)
    clean = validate({
        "keywords": list(keywords), "categories": list(categories), "authors": list(authors),
        "excludes": list(excludes), "sources": list(sources), "locale": locale,
        "timezone": timezone, "send_hour": send_hour, "frequency": frequency,
        "weekday": weekday, "max_papers": max_papers, "include_news": include_news})
    now = utcnow()
    subscriber = _find_or_create(session, address)
    if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED,
                             SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED) \
            and not confirmed:  # changes nothing but the record that someone asked
        session.add(Event(subscriber_id=subscriber.id, type="subscribe_again",
                          payload={"source": source[:64]}))
        session.commit()  # also releases the row lock
        return subscriber
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        subscriber.token_version += 1  # every old link dies, the stored confirmation too
        subscriber.confirm_token = None
    subscriber.status = SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING
    subscriber.consent_at = now  # for pending: when asked (expiry clock); then when confirmed
    subscriber.consent_source = source[:64]
    _apply(session, subscriber, clean)
    if confirmed:
        subscriber.confirm_token = None
    else:  # under the row lock: two requests at once keep the one link
        confirm_token(subscriber)
    session.commit()
    return subscriber


def subscriber_from_token(session: Session, purpose: str, token: Any) -> Subscriber:
    """The subscriber a valid link of this purpose names; InvalidToken otherwise (tampered,
    expired, another purpose, revoked by a newer token version, or nobody)."""
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise links.InvalidToken("this link is not valid", purpose)
    data = links.read_token(purpose, token)
    subscriber = links.subscriber_of(session, data)
    if subscriber is None:
        raise links.InvalidToken("this link is no longer valid", purpose)
    return subscriber


def confirm_token(subscriber: Subscriber) -> str:
    """The pending subscription's one confirmation token, set on the row (the caller
    commits): kept and sent again on a repeated subscribe, minted anew only once it has
    expired (the pending row outlived it) or its token version changed."""
    token = subscriber.confirm_token
    try:
        if token and links.read_token("confirm", token).version == subscriber.token_version:
            return token
    except links.InvalidToken:
        pass
    subscriber.confirm_token = links.make_token("confirm", subscriber.public_id,
                                                subscriber.token_version)
    return subscriber.confirm_token


def activate(session: Session, subscriber: Subscriber) -> bool:
    """Pending -> active with a conditional UPDATE: True for the one call that confirmed it
    (a used link, a second click or a concurrent POST gets False)."""
    done = session.execute(
        update(Subscriber).where(Subscriber.id == subscriber.id,
                                 Subscriber.status == SubscriberStatus.PENDING)
        .values(status=SubscriberStatus.ACTIVE, consent_at=utcnow(), confirm_token=None))
    session.commit()
    session.refresh(subscriber)
    return done.rowcount == 1


def confirm(session: Session, token: Any) -> Subscriber:
    """Confirm with a link (the CLI, the JSON API): active afterwards, or InvalidToken."""
    subscriber = subscriber_from_token(session, "confirm", token)
    if not activate(session, subscriber) and subscriber.status not in (
            SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED):
        raise links.InvalidToken("this link is no longer valid", "confirm")
    return subscriber


def update_preferences(session: Session, subscriber: Subscriber, **fields: Any) -> Subscriber:
    clean = validate(fields)
    if "keywords" in clean or "categories" in clean or "authors" in clean:
        current = interests(session, subscriber)
        merged = sum(len(clean.get(k, current[k])) for k in ("keywords", "categories", "authors"))
        if merged > MAX_TOPICS:
            raise InvalidInput("keywords", "too_many_topics")
    _apply(session, subscriber, clean)
    session.commit()
    return subscriber


def pause(session: Session, subscriber: Subscriber) -> Subscriber:
    if subscriber.status == SubscriberStatus.PAUSED:
        return subscriber
    if subscriber.status != SubscriberStatus.ACTIVE:
        raise InvalidInput("status", "cannot_pause")
    return _set_status(session, subscriber, SubscriberStatus.PAUSED)


def resume(session: Session, subscriber: Subscriber) -> Subscriber:
    """Paused or unsubscribed back to active: the signed link proves the address is theirs."""
    if subscriber.status == SubscriberStatus.ACTIVE:
        return subscriber
    if subscriber.status not in (SubscriberStatus.PAUSED, SubscriberStatus.UNSUBSCRIBED):
        raise InvalidInput("status", "cannot_resume")
    subscriber.consent_at, subscriber.consent_source = utcnow(), "preferences"
    return _set_status(session, subscriber, SubscriberStatus.ACTIVE)


def unsubscribe(session: Session, subscriber: Subscriber, reason: str = "link") -> Subscriber:
    """Idempotent: a second call (a replayed one-click POST) changes nothing."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return subscriber
    session.add(Event(subscriber_id=subscriber.id, type="unsubscribe",
                      payload={"reason": str(reason)[:100], "from": subscriber.status}))
    return _set_status(session, subscriber, SubscriberStatus.UNSUBSCRIBED)


def _set_status(session: Session, subscriber: Subscriber, status: str) -> Subscriber:
    subscriber.status = status
    session.add(subscriber)
    session.commit()
    return subscriber


def interests(session: Session, subscriber: Subscriber) -> dict[str, list[str]]:
    rows = session.exec(select(Interest).where(Interest.subscriber_id == subscriber.id)
                        .order_by(Interest.id)).all()
    by_kind = {name: [] for name in KIND_OF}
    names = {kind: name for name, kind in KIND_OF.items()}
    for row in rows:
        if row.kind in names:
            by_kind[names[row.kind]].append(row.value)
    return by_kind


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def export_data(session: Session, subscriber: Subscriber) -> dict:
    """Everything we hold about this subscriber, as JSON-ready data."""
    profile = {name: _iso(getattr(subscriber, name)) for name in (
        "email", "status", "locale", "timezone", "send_hour", "frequency", "weekday",
        "max_papers", "consent_at", "consent_source", "created_at")}
    digests = session.exec(select(Digest).where(Digest.subscriber_id == subscriber.id)
                           .order_by(Digest.local_date)).all()
    items = session.exec(select(DigestItem).join(Digest)
                         .where(Digest.subscriber_id == subscriber.id)).all()
    papers: dict[int, list[str]] = {}
    for item in sorted(items, key=lambda i: i.rank):
        papers.setdefault(item.digest_id, []).append(item.paper_id)
    feedback = session.exec(select(Feedback).where(Feedback.subscriber_id == subscriber.id)).all()
    events = session.exec(select(Event).where(Event.subscriber_id == subscriber.id)).all()
    library = session.exec(select(LibraryItem).where(LibraryItem.subscriber_id == subscriber.id)
                           .order_by(LibraryItem.id)).all()
    ratings = session.exec(select(Rating).where(Rating.subscriber_id == subscriber.id)
                           .order_by(Rating.id)).all()
    saved = session.exec(select(SavedPaper, Paper.title).join(Paper)
                         .where(SavedPaper.subscriber_id == subscriber.id)
                         .order_by(SavedPaper.id)).all()
    return {
        "subscriber": profile,
        "interests": interests(session, subscriber),
        "digests": [{"date": d.local_date.isoformat(), "status": d.status, "subject": d.subject,
                     "sent_at": _iso(d.sent_at), "papers": papers.get(d.id, [])}
                    for d in digests],
        "feedback": [{"paper": f.paper_id, "signal": f.signal, "at": _iso(f.created_at)}
                     for f in feedback],
        "events": [{"type": e.type, "at": _iso(e.time)} for e in events],
        "library": [{"title": i.title, "authors": i.authors, "year": i.year,
                     "arxiv_id": i.arxiv_id, "doi": i.doi, "abstract": i.abstract,
                     "imported_from": i.origin, "at": _iso(i.added_at)} for i in library],
        "ratings": [{"paper": r.paper_id, "rating": "more" if r.value > 0 else "less",
                     "at": _iso(r.updated_at)} for r in ratings],
        "saved": [{"paper": row.paper_id, "title": title, "from": row.origin,
                   "at": _iso(row.saved_at)} for row, title in saved],
    }


def delete_data(session: Session, subscriber: Subscriber) -> None:
    """Forget the subscriber: rows that point at them first (SQLite may lack cascades)."""
    sid = subscriber.id
    digest_ids = select(Digest.id).where(Digest.subscriber_id == sid)
    session.exec(delete(Event).where(Event.digest_id.in_(digest_ids)))
    session.exec(delete(Event).where(Event.subscriber_id == sid))
    session.exec(delete(DigestItem).where(DigestItem.digest_id.in_(digest_ids)))
    session.exec(delete(Digest).where(Digest.subscriber_id == sid))
    session.exec(delete(Feedback).where(Feedback.subscriber_id == sid))
    session.exec(delete(Rating).where(Rating.subscriber_id == sid))
    session.exec(delete(SavedPaper).where(SavedPaper.subscriber_id == sid))
    session.exec(delete(LibraryItem).where(LibraryItem.subscriber_id == sid))
    session.exec(delete(SubscriberModel).where(SubscriberModel.subscriber_id == sid))
    session.exec(delete(Interest).where(Interest.subscriber_id == sid))
    session.exec(delete(Subscriber).where(Subscriber.id == sid))
    session.commit()


def expire_unconfirmed(session: Session, now: dt.datetime | None = None) -> int:
    """Forget subscriptions left unconfirmed for 7 days; returns how many.

    A re-subscription that never got confirmed goes back to unsubscribed instead, keeping
    the history of its earlier digests.
    """
    cutoff = as_utc(now or utcnow()) - dt.timedelta(days=PENDING_DAYS)
    stale = session.exec(select(Subscriber).where(
        Subscriber.status == SubscriberStatus.PENDING,
        Subscriber.consent_at.is_(None) | (Subscriber.consent_at < cutoff),
        Subscriber.created_at < cutoff)).all()
    for subscriber in stale:
        has_history = session.exec(select(Digest.id).where(
            Digest.subscriber_id == subscriber.id)).first() is not None
        if has_history:
            _set_status(session, subscriber, SubscriberStatus.UNSUBSCRIBED)
        else:
            delete_data(session, subscriber)
    session.commit()
    return len(stale)
