"""Per-day delivery figures for `newsletter stats` and the admin page.

Digest figures (due, sent, skipped, failed) count digests by their local date, the day the
subscriber sees; provider figures (delivered, opened, clicked, bounced, unsubscribed) count
events by the UTC day they happened. Read-only; cheap enough to run on every page view.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlmodel import Session, col, func, select

from newsletter.core.models import Digest, DigestStatus
from newsletter.core.time import utcnow
from newsletter.tracking.track import event_counts

FIELDS = ("due", "sent", "skipped", "failed", "delivered", "opened", "clicked", "bounced",
          "unsubscribed")
EVENT_FIELDS = {
    "delivered": ("delivered",),
    "opened": ("open",),
    "clicked": ("click",),
    "bounced": ("bounce", "dropped"),
    "unsubscribed": ("unsubscribe", "group_unsubscribe", "spamreport"),
}


@dataclass
class DayStats:
    day: dt.date
    due: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    unsubscribed: int = 0

    def as_dict(self) -> dict:
        return asdict(self) | {"day": self.day.isoformat()}


def daily_stats(session: Session, days: int = 14, *,
                today: dt.date | None = None) -> list[DayStats]:
    """One row per day, oldest first, for the last `days` days including today."""
    today = today or utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    dates = [first + dt.timedelta(days=n) for n in range(days)]
    rows = {day: DayStats(day) for day in dates}
    counts = session.exec(
        select(Digest.local_date, Digest.status, func.count())
        .where(col(Digest.local_date) >= first, col(Digest.local_date) <= today)
        .group_by(Digest.local_date, Digest.status)
    ).all()
    for day, status, n in counts:
        row = rows.get(day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)))
        if row is None:
            continue
        row.due += n  # every claimed digest was due, whatever became of it
        if status == DigestStatus.SENT:
            row.sent += n
        elif status == DigestStatus.SKIPPED:
            row.skipped += n
        elif status == DigestStatus.FAILED:
            row.failed += n
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    for (day, kind), n in event_counts(session, since).items():
        row = rows.get(day)
        for name, kinds in EVENT_FIELDS.items():
            if row is not None and kind in kinds:
                setattr(row, name, getattr(row, name) + n)
    return list(rows.values())


def totals(stats: list[DayStats]) -> dict[str, int]:
    return {name: sum(getattr(row, name) for row in stats) for name in FIELDS}


def daily(session: Session, days: int = 7) -> list[dict]:
    """`newsletter stats`: the same figures as plain dicts, newest day first."""
    return [row.as_dict() for row in reversed(daily_stats(session, days))]


def spend(session: Session, days: int = 7) -> list[dict]:
    """LLM spend per day (the synthesis module keeps the ledger)."""
    from newsletter.writing.synthesize import spend_stats

    return spend_stats(session, days)
