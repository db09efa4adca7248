"""Tracking: SendGrid's Event Webhook and our own click redirect, turned into state.

The webhook (POST /webhooks/sendgrid) is signed: ECDSA P-256 over timestamp + raw body,
checked with `sendgrid.helpers.eventwebhook`; unsigned, forged or stale (> 10 minutes)
batches are refused before anything is parsed. Delivery is at-least-once, so each event is
stored once, keyed on `sg_event_id` (INSERT ... ON CONFLICT DO NOTHING), and only a newly
stored event changes state: hard bounces, spam reports, unsubscribes and repeated soft
bounces suppress the address. Clicks go through /c/{token} whatever the backend, recorded as
Feedback(signal='click'), and redirect only to the paper's own http(s) URL.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from dataclasses import dataclass

from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from newsletter.compose.render import safe_url
from newsletter.core import links
from newsletter.core.config import get_settings
from newsletter.core.models import (
    Digest,
    Event,
    Feedback,
    Paper,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600
# Event type -> (suppression reason, subscriber status) for events that end sending for good.
ENDS_SENDING = {
    "spamreport": ("spamreport", SubscriberStatus.COMPLAINED),
    "unsubscribe": ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
    "group_unsubscribe": ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
}
DROPPED_FOR_GOOD = ("bounced address", "spam reporting address", "unsubscribed address", "invalid")
LIVE_STATUSES = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED, SubscriberStatus.PENDING)


class SignatureError(ValueError):
    """Missing, forged or stale webhook signature."""


def verify_signature(raw_body: bytes, signature: str | None, timestamp: str | None, *,
                     public_key: str | None = None, now: float | None = None) -> None:
    """Raise SignatureError unless the batch is signed by SendGrid within the last 10 minutes."""
    public_key = public_key or get_settings().sendgrid_webhook_public_key
    if not public_key:
        raise SignatureError("no webhook public key configured: refusing unsigned events")
    if not signature or not timestamp:
        raise SignatureError("missing signature headers")
    try:
        age = (now or time.time()) - int(timestamp)
    except ValueError as error:
        raise SignatureError("bad timestamp") from error
    if abs(age) > MAX_AGE_SECONDS:
        raise SignatureError("stale timestamp")
    try:
        base64.b64decode(signature, validate=True)
        verifier = EventWebhook(public_key)
        payload = raw_body.decode("utf-8")
        valid = verifier.verify_signature(payload, signature, timestamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise SignatureError("malformed signature or key") from error
    if not valid:
        raise SignatureError("invalid signature")


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0


def _when(event: dict) -> dt.datetime:
    try:
        moment = dt.datetime.fromtimestamp(int(event["timestamp"]), dt.UTC)
        return moment.replace(tzinfo=utcnow().tzinfo)  # the same kind of datetime as stored
    except (KeyError, TypeError, ValueError, OverflowError):
        return utcnow()


def _store(session: Session, event: dict, digest: Digest | None,
           subscriber: Subscriber | None) -> bool:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Event).values(
        digest_id=digest.id if digest else None,
        subscriber_id=subscriber.id if subscriber else None,
        type=str(event.get("event", "unknown"))[:32], time=_when(event),
        provider_event_id=str(event["sg_event_id"])[:200], payload=event,
    ).on_conflict_do_nothing(index_elements=["provider_event_id"]).returning(Event.id)
    return session.execute(statement).first() is not None


def ingest_events(session: Session, events: list) -> IngestResult:
    """Store each new event once and apply its effect; duplicates change nothing."""
    result = IngestResult()
    for event in events:
        if not isinstance(event, dict) or not event.get("sg_event_id") or not event.get("event"):
            result.ignored += 1
            continue
        digest = _digest_of(session, event)
        email = str(event.get("email", "")).strip().lower()
        subscriber = (session.get(Subscriber, digest.subscriber_id) if digest else None) or (
            session.exec(select(Subscriber).where(Subscriber.email == email)).first()
            if email else None)
        if not _store(session, event, digest, subscriber):
            result.duplicates += 1
            continue
        result.stored += 1
        _apply(session, event, email or (subscriber.email if subscriber else ""), subscriber)
        session.commit()
    return result


def _digest_of(session: Session, event: dict) -> Digest | None:
    raw = event.get("digest_id")  # custom_args arrive flattened into the event
    try:
        return session.get(Digest, int(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _suppress(session: Session, email: str, reason: str) -> None:
    if email and session.get(Suppression, email) is None:
        session.add(Suppression(email=email, reason=reason[:64]))


def _set_status(subscriber: Subscriber | None, status: str) -> None:
    if subscriber is not None and subscriber.status in LIVE_STATUSES:
        subscriber.status = status


def _apply(session: Session, event: dict, email: str, subscriber: Subscriber | None) -> None:
    kind = event["event"]
    if kind in ENDS_SENDING:
        reason, status = ENDS_SENDING[kind]
        _suppress(session, email, reason)
        _set_status(subscriber, status)
    elif kind == "bounce" and event.get("type", "bounce") != "blocked":
        _suppress(session, email, "bounce")
        _set_status(subscriber, SubscriberStatus.BOUNCED)
    elif kind == "bounce":  # 'blocked' is a soft bounce: suppress only past the threshold
        if _soft_bounces(session, email, subscriber) >= get_settings().soft_bounce_threshold:
            _suppress(session, email, "soft_bounce")
            _set_status(subscriber, SubscriberStatus.BOUNCED)
    elif kind == "dropped" and str(event.get("reason", "")).lower().startswith(DROPPED_FOR_GOOD):
        _suppress(session, email, "dropped")
        _set_status(subscriber, SubscriberStatus.BOUNCED)


def _soft_bounces(session: Session, email: str, subscriber: Subscriber | None) -> int:
    session.flush()
    query = select(Event.payload).where(Event.type == "bounce")
    if subscriber is not None:  # JSON filters differ per database: narrow by subscriber instead
        query = query.where(Event.subscriber_id == subscriber.id)
    rows = session.exec(query).all() if email else []
    return sum(1 for payload in rows if payload.get("type") == "blocked"
               and str(payload.get("email", "")).lower() == email)


def click_url(subscriber: Subscriber, paper_id: str, digest_id: int | None = None) -> str:
    """The signed redirect a card's title links to (compose calls this)."""
    extra = {"p": paper_id} | ({"d": digest_id} if digest_id is not None else {})
    return links.url_for("click", subscriber, **extra)


def record_click(session: Session, token: str) -> str:
    """Record a click and return where to send the reader: the paper's own http(s) URL.

    Raises links.InvalidToken for a bad token or a paper without a safe URL.
    """
    data = links.read_token("click", token)
    paper = session.get(Paper, str(data.extra.get("p", "")))
    target = safe_url((paper.url or "").strip()) if paper else None
    if target is None:
        raise links.InvalidToken("this link is not valid")
    subscriber = session.get(Subscriber, data.subscriber_id)
    if subscriber is not None and subscriber.token_version == data.version:
        digest_id = data.extra.get("d")
        digest = session.get(Digest, digest_id) if isinstance(digest_id, int) else None
        if digest is not None and digest.subscriber_id != subscriber.id:
            digest = None
        session.add(Feedback(subscriber_id=subscriber.id, paper_id=paper.id, signal="click"))
        session.add(Event(digest_id=digest.id if digest else None, subscriber_id=subscriber.id,
                          type="click", payload={"paper_id": paper.id, "source": "redirect"}))
        session.commit()
    return target


def event_counts(session: Session, since: dt.datetime) -> dict[tuple[dt.date, str], int]:
    """(day, event type) -> count, for stats."""
    day = func.date(Event.time)
    rows = session.exec(
        select(day, Event.type, func.count()).where(col(Event.time) >= since)
        .group_by(day, Event.type)
    ).all()
    return {(dt.date.fromisoformat(str(d)), kind): n for d, kind, n in rows}
