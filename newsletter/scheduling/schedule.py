"""Who is due now: the scheduler tick (beat, every `tick_minutes`, or `newsletter send-due`).

A subscriber is due when their local send hour has passed on their local date (daily, or
weekly on their weekday) and no Digest row exists for that local date. Inserting that row is
the claim: the (subscriber, local_date) unique constraint makes the daily digest exactly-once
however many ticks run at once (`INSERT ... ON CONFLICT DO NOTHING RETURNING`, so a concurrent
duplicate is ignored, not an error). Quiet arXiv mornings get a 'skipped' row with the reason,
or, with `send_empty_note`, a short composed "nothing new today" note.
"""

from __future__ import annotations

import datetime as dt
import html

from sqlmodel import Session, col, select

from newsletter.core import links, metrics
from newsletter.core.config import get_settings
from newsletter.core.db import insert_ignore
from newsletter.core.models import (
    Digest,
    DigestStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.core.time import as_utc, utcnow, zone
from newsletter.locale import i18n
from newsletter.scheduling.arxiv_calendar import arxiv_has_news, quiet_reason

__all__ = ["arxiv_has_news", "claim_due", "due_subscribers", "local_now"]

BATCH = 500


def local_now(subscriber: Subscriber, now: dt.datetime) -> dt.datetime:
    return as_utc(now).astimezone(zone(subscriber.timezone))


def _is_due(subscriber: Subscriber, now: dt.datetime) -> dt.date | None:
    local = local_now(subscriber, now)
    if local.hour < subscriber.send_hour:  # a DST gap skips an hour: '>=' still fires after it
        return None
    if subscriber.frequency == "weekly" and local.weekday() != subscriber.weekday:
        return None
    return local.date()


def due_subscribers(session: Session, now: dt.datetime, *,
                    only_email: str | None = None) -> list[tuple[Subscriber, dt.date]]:
    """Active subscribers past their local send hour with no digest for their local date."""
    query = select(Subscriber).where(Subscriber.status == SubscriberStatus.ACTIVE)
    if only_email:
        query = query.where(Subscriber.email == only_email.strip().lower())
    subscribers = session.exec(query.order_by(Subscriber.id)).all()
    today = as_utc(now).date()
    window = [today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)]
    have = set(session.exec(  # local dates are within a day of the UTC date, whatever the zone
        select(Digest.subscriber_id, Digest.local_date).where(col(Digest.local_date).in_(window))
    ).all())
    due = []
    for subscriber in subscribers:
        local_date = _is_due(subscriber, now)
        if local_date is not None and (subscriber.id, local_date) not in have:
            due.append((subscriber, local_date))
    return due


def _new_row(subscriber: Subscriber, local_date: dt.date, now: dt.datetime) -> dict:
    settings = get_settings()
    row = {  # one key set for every row: a multi-row VALUES needs it
        "subscriber_id": subscriber.id, "local_date": local_date, "status": DigestStatus.PENDING,
        "attempts": 0, "created_at": as_utc(now), "error": None, "subject": None, "text": None,
        "html": None, "preheader": None, "writer": None, "composed_at": None,
    }
    period = 7 if subscriber.frequency == "weekly" else 1
    tz = zone(subscriber.timezone)
    if arxiv_has_news(local_date, tz, subscriber.send_hour, period_days=period):
        return row
    reason = quiet_reason(local_date, tz, subscriber.send_hour)
    if not settings.send_empty_note:
        return row | {"status": DigestStatus.SKIPPED, "error": reason}
    subject, text, body = empty_note(subscriber, local_date)
    preheader = i18n.translator(subscriber.locale).gettext(
        "Nothing new on arXiv since your last digest")
    return row | {"status": DigestStatus.COMPOSED, "error": reason, "subject": subject,
                  "text": text, "html": body, "writer": "note", "composed_at": as_utc(now),
                  "preheader": preheader}


def _insert(session: Session, rows: list[dict]) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, as one executemany (compiled once)."""
    statement = insert_ignore(session, Digest, "subscriber_id", "local_date").returning(Digest.id)
    return [row[0] for row in session.connection().execute(statement, rows)]


def claim_due(session: Session, now: dt.datetime, *, dry_run: bool = False,
              only_email: str | None = None) -> list[Digest]:
    """Insert the Digest rows that claim today's sends; return only the rows this call won."""
    due = due_subscribers(session, now, only_email=only_email)
    rows = [_new_row(subscriber, local_date, now) for subscriber, local_date in due]
    if dry_run:
        return [Digest(**row) for row in rows]
    ids: list[int] = []
    for start in range(0, len(rows), BATCH):  # subscriber-id order: concurrent ticks never deadlock
        ids += _insert(session, rows[start:start + BATCH])
        session.commit()
    metrics.digests("due", len(rows))
    metrics.digests("claimed", len(ids))
    if not ids:
        return []
    claimed = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        claimed += session.exec(select(Digest).where(col(Digest.id).in_(chunk))).all()
    for status in (DigestStatus.SKIPPED, DigestStatus.COMPOSED):  # a quiet day: skip or a note
        metrics.digests(status, sum(d.status == status for d in claimed))
    return sorted(claimed, key=lambda digest: digest.id)


def empty_note(subscriber: Subscriber, local_date: dt.date) -> tuple[str, str, str]:
    """Subject, text and HTML of the short "nothing new today" note (`send_empty_note`)."""
    tr = i18n.translator(subscriber.locale)
    subject = tr.gettext("AcademicHub %(date)s: nothing new on arXiv today",
                         date=tr.date(local_date, "short"))
    line = tr.gettext("arXiv announced no new papers since your last digest (it does not "
                      "announce on Friday and Saturday nights or on its holidays). "
                      "See you tomorrow.")
    labels = (tr.gettext("Preferences"), tr.gettext("Unsubscribe"))
    urls = (links.url_for("preferences", subscriber), links.url_for("unsubscribe", subscriber))
    text = f"{line}\n\n" + "".join(f"{label}: {url}\n" for label, url in zip(labels, urls))
    body = (
        f"<!doctype html><html lang=\"{i18n.html_lang(tr.locale)}\">"
        f"<body style=\"font-family:sans-serif\"><p>{html.escape(line)}</p><p>"
        + " · ".join(f"<a href=\"{html.escape(url)}\">{html.escape(label)}</a>"
                     for label, url in zip(labels, urls))
        + "</p></body></html>"
    )
    return subject, text, body


def stalled_digests(session: Session, now: dt.datetime | None = None, *,
                    older_than: dt.timedelta = dt.timedelta(minutes=30)) -> list[int]:
    """Claimed digests still 'pending' long after the claim: their chain was lost (a worker
    died with the broker's copy, a flushed queue). The tick re-chains them; every step is
    idempotent, so a chain that was merely slow is not harmed."""
    now = as_utc(now or utcnow())
    rows = session.exec(
        select(Digest.id, Digest.created_at).where(
            Digest.status == DigestStatus.PENDING,
            col(Digest.local_date) >= (now - dt.timedelta(days=2)).date())
    ).all()
    return [digest_id for digest_id, created in rows if as_utc(created) <= now - older_than]
