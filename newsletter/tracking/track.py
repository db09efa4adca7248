"""Tracking: SendGrid's Event Webhook turned into state (our click redirect: `clicks`).

The webhook (POST /webhooks/sendgrid) is signed: ECDSA P-256 over timestamp + raw body,
checked with `sendgrid.helpers.eventwebhook`; unsigned, forged or stale (> 10 minutes)
batches are refused before anything is parsed, and JSON nested deeper than SendGrid's own
(flat) events is refused on the bytes, before a parser could recurse. Delivery is
at-least-once, so each event is stored once, keyed on `sg_event_id`: a batch is stored in
one transaction (bulk lookups, one executemany with ON CONFLICT DO NOTHING), and only a new
event changes state: hard bounces, spam reports, unsubscribes and repeated soft bounces
suppress the address. An id longer than the column is refused, never cut (two distinct
ids would collide). A replayed batch (within the 10 minutes) stores and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sendgrid.helpers.eventwebhook import EventWebhook
from sqlmodel import Session, col, func, select

from newsletter.core import metrics
from newsletter.core.config import get_settings
from newsletter.core.db import insert_ignore
from newsletter.core.models import (
    Digest,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.core.time import utcnow

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
log = logging.getLogger(__name__)


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


class BatchError(ValueError):
    """A signed body that is not a batch we can read (not JSON, not a list, nested too deep)."""


# SendGrid's events are flat objects (a list of categories at most): anything nested deeper is
# not theirs. Checked on the bytes, before parsing, so no parser recursion is ever reached.
MAX_DEPTH = 8
MAX_EVENT_ID = 200  # Event.provider_event_id's column; a longer id is refused, never cut
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 500  # ids per IN (...) lookup


def nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text `raw` nests arrays/objects more than `limit` deep (or leaves one
    open): strings dropped, only brackets kept, then one innermost level peeled per pass."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST_PAIR.sub(b"", brackets)
    return bool(brackets)


def parse_batch(raw: bytes) -> list:
    """The events of a verified body; BatchError (a 400) for anything else."""
    if nested_deeper_than(raw, MAX_DEPTH):
        raise BatchError(f"JSON nested more than {MAX_DEPTH} levels deep (or unbalanced)")
    try:
        events = json.loads(raw)
    except ValueError:
        raise BatchError("body is not JSON") from None
    if not isinstance(events, list):
        raise BatchError("expected a JSON array of events")
    return events


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0


def _when(event: dict) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(event["timestamp"]), dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return utcnow()


def _event_id(event: object) -> str | None:
    """The event's sg_event_id when the event is usable, else None (it is ignored)."""
    if not isinstance(event, dict) or not event.get("event"):
        return None
    raw = event.get("sg_event_id")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        return None
    if len(str(raw)) > MAX_EVENT_ID:
        log.warning("webhook event refused: sg_event_id of %d characters", len(str(raw)))
        return None
    return str(raw)


def _email(event: dict) -> str:
    return str(event.get("email", "")).strip().lower()


def _int(raw: object) -> int | None:
    try:
        return int(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


def _chunks(values: Iterable, size: int = _CHUNK) -> Iterable[list]:
    values = list(values)
    return (values[i:i + size] for i in range(0, len(values), size))


def _new_events(session: Session, events: list, result: IngestResult) -> dict[str, dict]:
    """The usable events not stored yet, by id; counts the ignored and the duplicates."""
    batch: dict[str, dict] = {}
    for item in events:
        event_id = _event_id(item)
        if event_id is None:
            result.ignored += 1
        elif event_id in batch:  # repeated inside one batch
            result.duplicates += 1
        else:
            batch[event_id] = item
    for chunk in _chunks(list(batch)):  # stored by an earlier delivery of these events
        for event_id in session.exec(select(Event.provider_event_id)
                                     .where(col(Event.provider_event_id).in_(chunk))):
            del batch[event_id]
            result.duplicates += 1
    return batch


def _owners(session: Session, batch: dict[str, dict]) -> dict[str, tuple[int | None,
                                                                         Subscriber | None]]:
    """Event id -> (its digest's id, its subscriber), looked up in a few queries: the
    digest named in custom_args and its subscriber first, else the subscriber by address."""
    events = batch.values()
    digest_ids = {i for i in (_int(e.get("digest_id")) for e in events) if i is not None}
    digests: dict[int, int] = {}
    for chunk in _chunks(digest_ids):
        digests.update(session.exec(select(Digest.id, Digest.subscriber_id)
                                    .where(col(Digest.id).in_(chunk))).all())
    found: list[Subscriber] = []
    for chunk in _chunks(set(digests.values())):
        found += session.exec(select(Subscriber).where(col(Subscriber.id).in_(chunk))).all()
    for chunk in _chunks({_email(e) for e in events} - {""}):
        found += session.exec(select(Subscriber).where(col(Subscriber.email).in_(chunk))).all()
    by_id, by_email = {s.id: s for s in found}, {s.email: s for s in found}
    owners = {}
    for event_id, item in batch.items():
        digest_id = _int(item.get("digest_id"))
        digest_id = digest_id if digest_id in digests else None
        owner = by_id.get(digests[digest_id]) if digest_id is not None else None
        owners[event_id] = digest_id, owner or by_email.get(_email(item))
    return owners


def ingest_events(session: Session, events: list) -> IngestResult:
    """Store each new event once and apply its effect; duplicates change nothing.

    One transaction per batch: the ids already stored are looked up in bulk, the new events
    inserted in one executemany, their effects applied, one commit. ON CONFLICT DO NOTHING
    still guards the unique id against a concurrent delivery of the same events, whose
    effects are idempotent (suppress once, set a status, count soft bounces stored). The web
    handler runs this off the event loop, so a batch of thousands holds up no other request.
    """
    result = IngestResult()
    batch = _new_events(session, events, result)
    if not batch:
        return result
    owners = _owners(session, batch)
    rows = [{"digest_id": owners[event_id][0],
             "subscriber_id": owners[event_id][1].id if owners[event_id][1] else None,
             "type": str(item["event"])[:32], "time": _when(item),
             "provider_event_id": event_id, "payload": item}
            for event_id, item in batch.items()]
    # A plain executemany over the table: RETURNING makes PostgreSQL's ~3x slower.
    session.execute(insert_ignore(session, Event.__table__, "provider_event_id"), rows)
    for event_id, item in batch.items():
        subscriber = owners[event_id][1]
        _apply(session, item, _email(item) or (subscriber.email if subscriber else ""), subscriber)
    session.commit()
    metrics.webhook_events(row["type"] for row in rows)
    result.stored = len(batch)
    return result


def _suppress(session: Session, email: str, reason: str) -> None:
    """Suppress once: an address already suppressed (earlier in this batch, or by a
    concurrent one) keeps its first reason."""
    if not email:
        return
    session.execute(insert_ignore(session, Suppression, "email")
                    .values(email=email, reason=reason[:64], created_at=utcnow()))


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


def event_counts(session: Session, since: dt.datetime) -> dict[tuple[dt.date, str], int]:
    """(day, event type) -> count, for stats."""
    day = func.date(Event.time)
    rows = session.exec(
        select(day, Event.type, func.count()).where(col(Event.time) >= since)
        .group_by(day, Event.type)
    ).all()
    return {(dt.date.fromisoformat(str(d)), kind): n for d, kind, n in rows}
