"""The delivery state machine: claim a composed digest, send it once, reconcile the unknown.

Runs in the `deliver` queue (or in-process, from `newsletter send-due`), one digest at a time
or a batch over one session and one backend. Exactly-once in practice:
1. Claim `composed -> sending` with a conditional UPDATE; go on only if one row changed.
2. Record the attempt (attempts + 1 and an 'attempt' Event) and COMMIT before calling the
   provider, so a crash after the provider accepted the message leaves a visible trace.
3. Send; record `sent`, the provider's message id and `sent_at`.
A digest found in 'sending' is never resent blindly: `reconcile` asks the provider (its
webhook events we stored, or the backend's own lookup) and only after
`deliver_reconcile_seconds` with no trace anywhere does it send again. The backends classify
errors (`newsletter.delivery.backends`); here a PermanentError, or a TransientError past
`deliver_max_attempts`, fails the digest through one `_fail`. `pending_deliveries` is the
sweep each tick runs to pick up digests whose deliver task was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from email.message import EmailMessage

from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session, col, select

from newsletter.core import logs, metrics
from newsletter.core.config import get_settings
from newsletter.core.models import (
    Digest,
    DigestStatus,
    Event,
    Outcome,
    StepResult,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.core.time import as_utc, utcnow
from newsletter.delivery.backends import EmailBackend, PermanentError, TransientError, get_backend
from newsletter.delivery.message import build_message

__all__ = ["deliver_digest", "deliver_many", "is_suppressed", "pending_deliveries", "reconcile"]

log = logging.getLogger(__name__)
PROVIDER_EVENTS = ("processed", "delivered", "deferred", "dropped", "bounce", "open", "click",
                   "spamreport")


def is_suppressed(session: Session, email: str) -> bool:
    return session.get(Suppression, email.strip().lower()) is not None


def _move(session: Session, digest_id: int, source: str, **values) -> bool:
    """Conditional UPDATE: True only if this call moved the row out of `source`."""
    result = session.execute(
        update(Digest).where(col(Digest.id) == digest_id, col(Digest.status) == source)
        .values(**values)
        # SQLAlchemy's own sync scans every object in the session: sync just this one.
        .execution_options(synchronize_session=False)
    )
    moved = result.rowcount == 1
    loaded = session.identity_map.get(identity_key(Digest, digest_id)) if moved else None
    if loaded is not None:
        _loaded(loaded, **{"status": source, **{k: v for k, v in values.items()
                                                 if not isinstance(v, ClauseElement)}})
        computed = [k for k, v in values.items() if isinstance(v, ClauseElement)]
        if computed:
            session.expire(loaded, computed)
    return moved


def _loaded(digest: Digest, **values) -> None:
    """Set attributes as if loaded from the database: known values, nothing left to flush."""
    for name, value in values.items():
        set_committed_value(digest, name, value)


def _record(session: Session, digest: Digest, kind: str, **payload) -> None:
    # A plain INSERT in the caller's transaction (committed with it): no ORM object to flush.
    session.execute(insert(Event).values(digest_id=digest.id, subscriber_id=digest.subscriber_id,
                                         type=kind, time=utcnow(), payload=payload))


def _fail(session: Session, digest: Digest, error: str, *, reason: str) -> DigestStatus:
    """sending -> failed for good: the digest keeps `error`, a 'failed' event the `reason`."""
    moved = _move(session, digest.id, DigestStatus.SENDING, status=DigestStatus.FAILED,
                  error=error[:2000])
    _record(session, digest, "failed", reason=reason[:500])
    session.commit()
    if moved:
        metrics.digests(DigestStatus.FAILED)
        log.warning("digest %s failed: %s", digest.id, error[:300])
    session.refresh(digest)
    return DigestStatus(digest.status)


def deliver_digest(session: Session, digest_id: int, *, backend: EmailBackend | None = None,
                   now: dt.datetime | None = None) -> StepResult:
    """Send one composed digest at most once; returns the digest's status afterwards.

    Raises TransientError for the task to retry later (`retry_after` seconds if known).
    """
    digest = session.get(Digest, digest_id)
    if digest is None:
        return Outcome.MISSING
    session.refresh(digest)  # the identity map may hold a stale status
    if digest.status == DigestStatus.SENDING:
        return reconcile(session, digest, backend=backend, now=now)
    if digest.status != DigestStatus.COMPOSED:
        return DigestStatus(digest.status)  # not ready yet, or already done: nothing to do
    subscriber = session.get(Subscriber, digest.subscriber_id)
    if _skipped_as_refused(session, digest, subscriber, DigestStatus.COMPOSED):
        return DigestStatus(digest.status)
    if not _move(session, digest.id, DigestStatus.COMPOSED, status=DigestStatus.SENDING,
                 attempts=Digest.attempts + 1):
        session.rollback()  # another worker claimed it first
        session.refresh(digest)
        return DigestStatus(digest.status)
    return _attempt_and_send(session, digest, subscriber, backend or get_backend())


def deliver_many(session: Session, digest_ids: list[int], *,
                 backend: EmailBackend | None = None, now: dt.datetime | None = None
                 ) -> dict[int, StepResult | TransientError]:
    """`deliver_digest` for many digests over one session and one backend (one HTTP client).

    The same claim, attempt record and commit before each send, one digest after another;
    only the reads are shared. A digest with anything unusual (already 'sending', a refusal)
    goes through `deliver_digest` itself. Per digest the result is its status, or the
    TransientError for the caller to retry that digest alone (also what an unexpected error
    of one digest becomes); database errors propagate, for the caller to retry the batch."""
    backend = backend or get_backend()
    ids = list(dict.fromkeys(digest_ids))
    digests = {d.id: d for d in session.exec(
        select(Digest).where(col(Digest.id).in_(ids))
        .execution_options(populate_existing=True))}  # statuses as they are now
    subscribers = {s.id: s for s in session.exec(select(Subscriber).where(
        col(Subscriber.id).in_({d.subscriber_id for d in digests.values()})))}
    suppressed = set(session.exec(select(Suppression.email).where(col(Suppression.email).in_(
        [s.email.strip().lower() for s in subscribers.values()]))).all())
    out: dict[int, StepResult | TransientError] = {}
    for digest_id in ids:
        digest = digests.get(digest_id)
        if digest is None:
            out[digest_id] = Outcome.MISSING
            continue
        subscriber = subscribers.get(digest.subscriber_id)
        with logs.digest_scope(digest_id, digest.subscriber_id):
            try:
                out[digest_id] = _deliver_one(session, digest, subscriber, suppressed, backend,
                                              now)
            except TransientError as error:
                out[digest_id] = error
            except DBAPIError:
                raise
            except Exception as error:  # this digest's own problem: retried alone
                log.exception("delivering digest %s failed", digest_id)
                session.rollback()
                out[digest_id] = TransientError(f"{type(error).__name__}: {error}")
    return out


def _deliver_one(session: Session, digest: Digest, subscriber: Subscriber | None,
                 suppressed: set[str], backend: EmailBackend, now: dt.datetime | None
                 ) -> StepResult:
    if digest.status != DigestStatus.COMPOSED:
        return (deliver_digest(session, digest.id, backend=backend, now=now)
                if digest.status == DigestStatus.SENDING else DigestStatus(digest.status))
    if (subscriber is None or subscriber.status != SubscriberStatus.ACTIVE
            or subscriber.email.strip().lower() in suppressed):
        return deliver_digest(session, digest.id, backend=backend, now=now)
    return _claim_and_send(session, digest, subscriber, backend)


def _claim_and_send(session: Session, digest: Digest, subscriber: Subscriber,
                    backend: EmailBackend) -> DigestStatus:
    """composed -> sending (attempts + 1, read back in the same statement), then send."""
    message = build_message(digest, subscriber)  # built first: nothing after the claim waits
    attempts = session.execute(
        update(Digest).where(col(Digest.id) == digest.id,
                             col(Digest.status) == DigestStatus.COMPOSED)
        .values(status=DigestStatus.SENDING, attempts=Digest.attempts + 1)
        .returning(Digest.attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if attempts is None:
        session.rollback()  # another worker claimed it first
        session.refresh(digest)
        return DigestStatus(digest.status)
    _loaded(digest, status=DigestStatus.SENDING, attempts=attempts)
    return _attempt_and_send(session, digest, subscriber, backend, message=message)


def _refusal(session: Session, subscriber: Subscriber | None) -> str | None:
    if subscriber is None:
        return "subscriber deleted"
    if subscriber.status != SubscriberStatus.ACTIVE:
        return f"not sent: subscriber is {subscriber.status}"
    suppressed = session.get(Suppression, subscriber.email.strip().lower())
    if suppressed is not None:
        return f"not sent: address suppressed ({suppressed.reason})"
    return None


def _skipped_as_refused(session: Session, digest: Digest, subscriber: Subscriber | None,
                        current: str) -> bool:
    """Skip the digest (from `current`) with the reason when it must not go out at all."""
    refusal = _refusal(session, subscriber)
    if refusal is None:
        return False
    if _move(session, digest.id, current, status=DigestStatus.SKIPPED, error=refusal):
        metrics.digests(DigestStatus.SKIPPED)
        log.info("digest %s skipped: %s", digest.id, refusal)
    session.commit()
    session.refresh(digest)
    return True


def _attempt_and_send(session: Session, digest: Digest, subscriber: Subscriber,
                      backend: EmailBackend, *,
                      message: EmailMessage | None = None) -> DigestStatus:
    if message is None:  # `message` given: the caller has just set the claimed attempt count
        session.refresh(digest)
    _record(session, digest, "attempt", attempt=digest.attempts, backend=backend.name)
    session.commit()  # the attempt is durable before the provider sees anything
    message = message or build_message(digest, subscriber)
    started = time.perf_counter()
    try:
        provider_id = backend.send(message, digest_id=digest.id)
    except TransientError as error:
        metrics.sent(backend.name, time.perf_counter() - started, "transient")
        return _transient(session, digest, error)
    except PermanentError as error:
        metrics.sent(backend.name, time.perf_counter() - started, "permanent")
        return _fail(session, digest, f"permanent: {error}", reason=str(error))
    metrics.sent(backend.name, time.perf_counter() - started, "ok")
    _mark_sent(session, digest, provider_id)
    return DigestStatus.SENT


def _mark_sent(session: Session, digest: Digest, provider_id: str) -> None:
    values = {"status": DigestStatus.SENT, "provider_message_id": provider_id[:200],
              "sent_at": utcnow(), "error": None}
    moved = _move(session, digest.id, DigestStatus.SENDING, **values)
    session.commit()
    if not moved:  # else `_move` set what it wrote: no reading the row (and its html) back
        session.refresh(digest)
        return
    metrics.digests(DigestStatus.SENT)
    log.info("digest %s sent (%s)", digest.id, values["provider_message_id"])


def _transient(session: Session, digest: Digest, error: TransientError) -> DigestStatus:
    reason = f"transient (attempt {digest.attempts}): {error}"[:2000]
    # Ambiguous failures are never failed here: reconcile looks for the provider's trace first.
    if not error.ambiguous and digest.attempts >= get_settings().deliver_max_attempts:
        return _fail(session, digest, f"gave up after {digest.attempts} attempts; last: {error}",
                     reason=str(error))
    _record(session, digest, "retry", reason=str(error)[:500], ambiguous=error.ambiguous)
    metrics.digests("retry")
    log.warning("digest %s: %s", digest.id, reason)
    if error.ambiguous:  # the provider may have it: stay 'sending' so the retry reconciles
        _move(session, digest.id, DigestStatus.SENDING, error=reason)
    else:  # the provider said no: safe to send again
        _move(session, digest.id, DigestStatus.SENDING, status=DigestStatus.COMPOSED, error=reason)
    session.commit()
    raise error


def _provider_trace(session: Session, digest: Digest, backend: EmailBackend) -> str | None:
    """The provider's message id if it has seen this digest (stored webhook events, lookup)."""
    events = session.exec(
        select(Event).where(Event.digest_id == digest.id, col(Event.type).in_(PROVIDER_EVENTS))
    ).all()
    for event in events:  # any provider event means it was accepted
        return str(event.payload.get("sg_message_id") or "confirmed-by-webhook").split(".")[0]
    try:
        return backend.lookup(digest.id)
    except TransientError:
        return None


def reconcile(session: Session, digest: Digest, *, backend: EmailBackend | None = None,
              now: dt.datetime | None = None) -> DigestStatus:
    """A digest stuck in 'sending' (crash, lost response): resolve it without a blind resend."""
    backend = backend or get_backend()
    now = now or utcnow()
    found = _provider_trace(session, digest, backend)
    if found:
        _mark_sent(session, digest, found)
        _record(session, digest, "reconciled", provider_message_id=found)
        session.commit()
        return DigestStatus.SENT
    last = session.exec(
        select(Event.time).where(Event.digest_id == digest.id, Event.type == "attempt")
        .order_by(col(Event.time).desc()).limit(1)
    ).first() or digest.created_at
    elapsed = (as_utc(now) - as_utc(last)).total_seconds()
    # An attempt can be in flight for as long as the backend's timeout, whatever the setting.
    grace = max(get_settings().deliver_reconcile_seconds, getattr(backend, "timeout", 0.0))
    wait = grace - elapsed
    if wait > 0:  # too early to tell: the attempt may still be in flight
        raise TransientError("outcome of the last attempt not known yet", retry_after=wait,
                             ambiguous=True)
    if digest.attempts >= get_settings().deliver_max_attempts:
        return _fail(session, digest, f"gave up after {digest.attempts} attempts with no trace "
                     "at the provider", reason="no trace at the provider")
    subscriber = session.get(Subscriber, digest.subscriber_id)
    if _skipped_as_refused(session, digest, subscriber, DigestStatus.SENDING):
        return DigestStatus(digest.status)
    # Re-claim with a conditional UPDATE on the attempt count, so two reconcilers send once.
    result = session.execute(
        update(Digest).where(col(Digest.id) == digest.id,
                             col(Digest.status) == DigestStatus.SENDING,
                             col(Digest.attempts) == digest.attempts)
        .values(attempts=Digest.attempts + 1)
    )
    if result.rowcount != 1:
        session.rollback()
        session.refresh(digest)
        return DigestStatus(digest.status)
    log.warning("digest %s: no trace at the provider after %s attempt(s); sending again",
                digest.id, digest.attempts)
    return _attempt_and_send(session, digest, subscriber, backend)


def pending_deliveries(session: Session, now: dt.datetime | None = None, *,
                       since_days: int = 2) -> list[int]:
    """Digests a sweep should hand to deliver again: composed ones whose task was lost, and
    'sending' ones older than the reconcile window (crashed workers)."""
    now = now or utcnow()
    stale = now - dt.timedelta(seconds=get_settings().deliver_reconcile_seconds)
    recent = (now - dt.timedelta(days=since_days)).date()
    rows = session.exec(
        select(Digest.id, Digest.status, Digest.composed_at).where(
            col(Digest.local_date) >= recent,
            col(Digest.status).in_([DigestStatus.COMPOSED, DigestStatus.SENDING]))
    ).all()
    attempted = dict(session.exec(
        select(Event.digest_id, Event.time).where(
            col(Event.digest_id).in_([row[0] for row in rows] or [0]), Event.type == "attempt")
        .order_by(col(Event.time))
    ).all())
    return [digest_id for digest_id, status, composed_at in rows
            if as_utc(attempted.get(digest_id) or composed_at or now) <= as_utc(stale)]
