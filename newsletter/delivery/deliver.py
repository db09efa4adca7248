"""Deliver a composed digest: build the message, claim it, send it through one backend seam.

Runs in the `deliver` queue (or in-process). Exactly-once in practice:
1. Claim `composed -> sending` with a conditional UPDATE; go on only if one row changed.
2. Record the attempt (attempts + 1 and an 'attempt' Event) and COMMIT before calling the
   provider, so a crash after the provider accepted the message leaves a visible trace.
3. Send; record `sent`, the provider's message id and `sent_at`.
A digest found in 'sending' is never resent blindly: `reconcile` asks the provider (its
webhook events we stored, or the backend's own lookup) and only after `deliver_reconcile_
seconds` with no trace anywhere does it send again. Errors are classified once, at the
backend: TransientError (retry; `ambiguous` when the provider may have accepted it) or
PermanentError (recorded on the digest, never retried).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import http.client
import json
import logging
import os
import re
import smtplib
import ssl
import time
import urllib.error
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import python_http_client
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Header, Mail, To
from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session, col, select

from newsletter.core import links
from newsletter.core.config import get_settings
from newsletter.core.models import (
    Digest,
    DigestStatus,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
    as_utc,
    utcnow,
)

__all__ = [
    "EmailBackend", "OutboxBackend", "PermanentError", "SendGridBackend", "SmtpBackend",
    "TransientError", "build_message", "build_transactional", "deliver_digest", "deliver_many",
    "get_backend",
    "is_suppressed", "pending_deliveries", "reconcile", "send_transactional",
]

log = logging.getLogger(__name__)
PROVIDER_EVENTS = ("processed", "delivered", "deferred", "dropped", "bounce", "open", "click",
                   "spamreport")


# --- the message -------------------------------------------------------------------------

# RFC 5322 allows 998-character lines; at the default 78 a long unbreakable header (our
# List-Unsubscribe URL) would be RFC 2047-encoded, which mail clients cannot use as a URL.
EMAIL_POLICY = email.policy.default.clone(max_line_length=998)

def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "academichub.local"


def _base(to: str, subject: str, text: str, html: str) -> EmailMessage:
    settings = get_settings()
    message = EmailMessage(policy=EMAIL_POLICY)
    message["From"] = settings.from_email
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=_domain(settings.from_email))
    message.set_content(text or "", subtype="plain", cte="quoted-printable")
    message.add_alternative(html or "", subtype="html", cte="quoted-printable")
    return message  # multipart/alternative: plain first, html last (the preferred part)


def build_message(digest: Digest, subscriber: Subscriber) -> EmailMessage:
    message = _base(subscriber.email, digest.subject or "Your AcademicHub digest",
                    digest.text or "", digest.html or "")
    message["List-Unsubscribe"] = f"<{links.url_for('unsubscribe', subscriber)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    message["List-Id"] = get_settings().list_id
    message["X-AcademicHub-Digest"] = str(digest.id)
    return message


def build_transactional(to: str, rendered, subscriber: Subscriber | None = None) -> EmailMessage:
    """Confirmation/welcome email from a compose.Rendered (subject, preheader, html, text)."""
    message = _base(to, rendered.subject, rendered.text, rendered.html)
    message["X-AcademicHub-Kind"] = "transactional"
    if subscriber is not None and subscriber.status == SubscriberStatus.ACTIVE:
        message["List-Unsubscribe"] = f"<{links.url_for('unsubscribe', subscriber)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return (text.get_content() if text else "", html.get_content() if html else "")


# --- the seam ----------------------------------------------------------------------------

class TransientError(Exception):
    """Retry later. `ambiguous`: the provider may have accepted it (timeout, lost response)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class PermanentError(Exception):
    """The provider refused this message for good (bad address, bad request)."""


class EmailBackend(Protocol):
    name: str

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        """Hand the message over; return the provider's message id."""

    def lookup(self, digest_id: int) -> str | None:
        """The provider's id for a digest it already accepted, None if unknown (reconcile)."""


class OutboxBackend:
    """Default: <OUTBOX_DIR>/<timestamp>-<digest-N or slug>.eml and the same name .html."""

    name = "outbox"

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory or get_settings().outbox_dir)

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        if digest_id is not None:
            label = f"digest-{digest_id}"
        else:
            label = re.sub(r"[^a-z0-9]+", "-", str(message["To"]).lower()).strip("-")[:60]
        stem = f"{stamp}-{label}"
        (self.directory / f"{stem}.html").write_text(_parts(message)[1], encoding="utf-8")
        partial = self.directory / f".{stem}.eml.tmp"  # the rename makes the .eml all-or-nothing
        partial.write_bytes(message.as_bytes())
        os.replace(partial, self.directory / f"{stem}.eml")
        return f"outbox:{stem}"

    def lookup(self, digest_id: int) -> str | None:
        found = sorted(self.directory.glob(f"*-digest-{digest_id}.eml"))
        return f"outbox:{found[-1].stem}" if found else None


class SmtpBackend:
    """Any SMTP relay: security none | starttls | ssl, optional auth, explicit timeout."""

    name = "smtp"

    def __init__(self, *, host: str | None = None, port: int | None = None,
                 security: str | None = None, username: str | None = None,
                 password: str | None = None, context: ssl.SSLContext | None = None) -> None:
        settings = get_settings()
        self.host = host or settings.smtp_host
        self.port = port or settings.smtp_port
        self.security = security or settings.smtp_security
        self.username = username if username is not None else settings.smtp_username
        self.password = password if password is not None else settings.smtp_password
        self.context = context or ssl.create_default_context()
        self.timeout = settings.smtp_timeout

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=self.context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=self.context)
        return client

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise TransientError(f"recipient deferred: {codes}") from error
            raise PermanentError(f"recipient refused: {codes}") from error
        except smtplib.SMTPResponseException as error:
            if 400 <= error.smtp_code < 500:
                raise TransientError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
            raise PermanentError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
        except (smtplib.SMTPServerDisconnected, TimeoutError) as error:
            raise TransientError(f"SMTP connection lost: {error}", ambiguous=True) from error
        except (OSError, smtplib.SMTPException) as error:
            raise TransientError(f"SMTP unavailable: {error}") from error
        return str(message["Message-ID"])

    def lookup(self, digest_id: int) -> str | None:
        return None  # SMTP keeps no queryable record


class SendGridBackend:
    """SendGrid v3 Mail Send through the real SDK, with a timeout (the SDK has none)."""

    name = "sendgrid"

    def __init__(self, *, api_key: str | None = None, host: str | None = None,
                 timeout: float | None = None) -> None:
        settings = get_settings()
        self.client = SendGridAPIClient(api_key or settings.sendgrid_api_key,
                                        host=host or settings.sendgrid_api_host)
        self.timeout = timeout or settings.sendgrid_timeout
        self.client.client.timeout = self.timeout

    def payload(self, message: EmailMessage, digest_id: int | None) -> Mail:
        sender_name, sender = parseaddr(str(message["From"]))
        text, html = _parts(message)
        mail = Mail(from_email=From(sender, sender_name or None),
                    to_emails=To(parseaddr(str(message["To"]))[1]),
                    subject=str(message["Subject"]), plain_text_content=text or " ",
                    html_content=html or None)  # the helper puts text/plain first
        mail.header = [Header(name, str(message[name])) for name in FORWARDED if message[name]]
        if digest_id is not None:
            mail.custom_arg = CustomArg("digest_id", str(digest_id))  # ids only, never addresses
        return mail

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        try:
            response = self.client.send(self.payload(message, digest_id))
        except python_http_client.exceptions.HTTPError as error:
            raise _classify(error) from error
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise TransientError(f"SendGrid: {error!r}", ambiguous=True) from error
        except urllib.error.URLError as error:  # could not connect: nothing was sent
            ambiguous = isinstance(error.reason, TimeoutError)
            raise TransientError(f"SendGrid: {error.reason}", ambiguous=ambiguous) from error
        return response.headers.get("X-Message-Id") or f"sendgrid:{digest_id}"

    def lookup(self, digest_id: int) -> str | None:
        """Email Activity API (needs the add-on; 4xx means we cannot tell)."""
        try:
            response = self.client.client.messages.get(query_params={
                "query": f"unique_args['digest_id']=\"{digest_id}\"", "limit": 1})
        except python_http_client.exceptions.HTTPError as error:
            if error.status_code == 429 or error.status_code >= 500:
                raise _classify(error) from error
            return None
        except (OSError, http.client.HTTPException) as error:
            raise TransientError(f"SendGrid lookup: {error!r}") from error
        messages = json.loads(response.body or b"{}").get("messages") or []
        if not messages:
            return None
        return str(messages[0].get("msg_id", "")).split(".")[0] or None


FORWARDED = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "X-AcademicHub-Digest")


def _classify(error) -> Exception:
    status = int(error.status_code)
    body = error.body.decode("utf-8", "replace")[:300] if isinstance(error.body, bytes) else ""
    if status == 429 or status >= 500:
        headers = error.headers or {}
        reset = headers.get("X-RateLimit-Reset") or headers.get("Retry-After")
        retry_after = None
        if reset and str(reset).isdigit():  # a Unix time, or a number of seconds
            value = float(reset)
            retry_after = max(0.0, value - time.time()) if value > 1e9 else value
        return TransientError(f"SendGrid {status}: {body}", retry_after=retry_after)
    return PermanentError(f"SendGrid {status}: {body}")


def get_backend() -> EmailBackend:
    backend = get_settings().email_backend
    if backend == "sendgrid":
        return SendGridBackend()
    if backend == "smtp":
        return SmtpBackend()
    return OutboxBackend()


def send_transactional(message, *, backend: EmailBackend | None = None) -> str:
    """Confirmation and welcome emails: no digest, no claim; errors go to the caller."""
    return (backend or get_backend()).send(message, digest_id=None)


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


def _record(session: Session, digest: Digest, kind: str, **payload) -> None:
    # A plain INSERT in the caller's transaction (committed with it): no ORM object to flush.
    session.execute(insert(Event).values(digest_id=digest.id, subscriber_id=digest.subscriber_id,
                                         type=kind, time=utcnow(), payload=payload))


def deliver_digest(session: Session, digest_id: int, *, backend: EmailBackend | None = None,
                   now: dt.datetime | None = None) -> str:
    """Send one composed digest at most once; returns the digest's status afterwards.

    Raises TransientError for the task to retry later (`retry_after` seconds if known).
    """
    digest = session.get(Digest, digest_id)
    if digest is None:
        return "missing"
    session.refresh(digest)  # the identity map may hold a stale status
    if digest.status == DigestStatus.SENDING:
        return reconcile(session, digest, backend=backend, now=now)
    if digest.status != DigestStatus.COMPOSED:
        return digest.status  # not ready yet, or already done: nothing to do
    subscriber = session.get(Subscriber, digest.subscriber_id)
    if _skipped_as_refused(session, digest, subscriber, DigestStatus.COMPOSED):
        return digest.status
    if not _move(session, digest.id, DigestStatus.COMPOSED, status=DigestStatus.SENDING,
                 attempts=Digest.attempts + 1):
        session.rollback()  # another worker claimed it first
        session.refresh(digest)
        return digest.status
    return _attempt_and_send(session, digest, subscriber, backend or get_backend())


def deliver_many(session: Session, digest_ids: list[int], *,
                 backend: EmailBackend | None = None, now: dt.datetime | None = None
                 ) -> dict[int, str | TransientError]:
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
    out: dict[int, str | TransientError] = {}
    for digest_id in ids:
        digest = digests.get(digest_id)
        if digest is None:
            out[digest_id] = "missing"
            continue
        subscriber = subscribers.get(digest.subscriber_id)
        try:
            if digest.status != DigestStatus.COMPOSED:
                out[digest_id] = (deliver_digest(session, digest_id, backend=backend, now=now)
                                  if digest.status == DigestStatus.SENDING else digest.status)
            elif (subscriber is None or subscriber.status != SubscriberStatus.ACTIVE
                  or subscriber.email.strip().lower() in suppressed):
                out[digest_id] = deliver_digest(session, digest_id, backend=backend, now=now)
            else:
                out[digest_id] = _claim_and_send(session, digest, subscriber, backend)
        except TransientError as error:
            out[digest_id] = error
        except DBAPIError:
            raise
        except Exception as error:  # this digest's own problem: retried alone
            log.exception("delivering digest %s failed", digest_id)
            session.rollback()
            out[digest_id] = TransientError(f"{type(error).__name__}: {error}")
    return out


def _claim_and_send(session: Session, digest: Digest, subscriber: Subscriber,
                    backend: EmailBackend) -> str:
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
        return digest.status
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
    _move(session, digest.id, current, status=DigestStatus.SKIPPED, error=refusal)
    session.commit()
    session.refresh(digest)
    return True


def _attempt_and_send(session: Session, digest: Digest, subscriber: Subscriber,
                      backend: EmailBackend, *, message: EmailMessage | None = None) -> str:
    if message is None:  # `message` given: the caller has just set the claimed attempt count
        session.refresh(digest)
    _record(session, digest, "attempt", attempt=digest.attempts, backend=backend.name)
    session.commit()  # the attempt is durable before the provider sees anything
    message = message or build_message(digest, subscriber)
    try:
        provider_id = backend.send(message, digest_id=digest.id)
    except TransientError as error:
        return _transient(session, digest, error)
    except PermanentError as error:
        _move(session, digest.id, DigestStatus.SENDING, status=DigestStatus.FAILED,
              error=f"permanent: {error}"[:2000])
        _record(session, digest, "failed", reason=str(error)[:500])
        session.commit()
        session.refresh(digest)
        return digest.status
    _mark_sent(session, digest, provider_id)
    return DigestStatus.SENT


def _mark_sent(session: Session, digest: Digest, provider_id: str) -> None:
    values = {"status": DigestStatus.SENT, "provider_message_id": provider_id[:200],
              "sent_at": utcnow(), "error": None}
    moved = _move(session, digest.id, DigestStatus.SENDING, **values)
    session.commit()
    if not moved:  # else `_move` set what it wrote: no reading the row (and its html) back
        session.refresh(digest)


def _loaded(digest: Digest, **values) -> None:
    """Set attributes as if loaded from the database: known values, nothing left to flush."""
    for name, value in values.items():
        set_committed_value(digest, name, value)


def _transient(session: Session, digest: Digest, error: TransientError) -> str:
    reason = f"transient (attempt {digest.attempts}): {error}"[:2000]
    # Ambiguous failures are never failed here: reconcile looks for the provider's trace first.
    if not error.ambiguous and digest.attempts >= get_settings().deliver_max_attempts:
        _move(session, digest.id, DigestStatus.SENDING, status=DigestStatus.FAILED,
              error=f"gave up after {digest.attempts} attempts; last: {error}"[:2000])
        _record(session, digest, "failed", reason=str(error)[:500])
        session.commit()
        session.refresh(digest)
        return digest.status
    _record(session, digest, "retry", reason=str(error)[:500], ambiguous=error.ambiguous)
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
              now: dt.datetime | None = None) -> str:
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
        _move(session, digest.id, DigestStatus.SENDING, status=DigestStatus.FAILED,
              error=f"gave up after {digest.attempts} attempts with no trace at the provider")
        session.commit()
        session.refresh(digest)
        return digest.status
    subscriber = session.get(Subscriber, digest.subscriber_id)
    if _skipped_as_refused(session, digest, subscriber, DigestStatus.SENDING):
        return digest.status
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
        return digest.status
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
