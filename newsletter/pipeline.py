"""The per-digest pipeline: prepare -> compose -> deliver, each step idempotent on a digest id.

Celery tasks (workers/tasks.py) and the CLI both call these functions, so the embedded mode
(no Redis) and production run the same code. A step that finds the digest already past it
does nothing, which is what makes retries and duplicate tasks harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel import Session, delete, select

from newsletter import compose, deliver, harvest, schedule
from newsletter.db import session_scope
from newsletter.models import Digest, DigestItem, DigestStatus, Interest, Paper, Subscriber, utcnow
from newsletter.select import Pick, select_papers

log = logging.getLogger(__name__)


def refresh_sources(session: Session, subscriber: Subscriber) -> None:
    """Make sure the feeds this subscriber reads are fresh (fetched once per window, shared)."""
    interests = session.exec(select(Interest).where(Interest.subscriber_id == subscriber.id)).all()
    harvest.ensure_sources(session)
    harvest.harvest(session, harvest.sources_for(interests))


def prepare(session: Session, digest_id: int, *, now: dt.datetime | None = None,
            refresh: bool = True) -> str:
    """Select the papers: writes the DigestItems, or marks the digest skipped."""
    digest = session.get(Digest, digest_id)
    if digest is None or digest.status != DigestStatus.PENDING:
        return digest.status if digest else "missing"
    subscriber = session.get(Subscriber, digest.subscriber_id)
    if refresh:
        refresh_sources(session, subscriber)
        # What that harvest just stored belongs to this digest, even on a tick's older `now`.
        now = max(now, utcnow()) if now else None
    picks = select_papers(session, subscriber, now=now, digest=digest)
    session.exec(delete(DigestItem).where(DigestItem.digest_id == digest.id))
    if not picks:
        digest.status, digest.error = DigestStatus.SKIPPED, "no new papers matched the topics"
    for rank, pick in enumerate(picks, 1):
        session.add(DigestItem(digest_id=digest.id, paper_id=pick.paper.id, rank=rank,
                               score=pick.score, reason=pick.reason[:500]))
    session.add(digest)
    session.commit()
    return digest.status


def compose_step(session: Session, digest_id: int) -> str:
    digest = session.get(Digest, digest_id)
    if digest is None or digest.status != DigestStatus.PENDING:
        return digest.status if digest else "missing"
    return compose.compose_digest(session, digest).status


def deliver_step(session: Session, digest_id: int) -> str:
    return deliver.deliver_digest(session, digest_id)


def run_digest(digest_id: int, *, now: dt.datetime | None = None, refresh: bool = True) -> str:
    """The whole chain in-process (embedded mode, CLI, tests)."""
    with session_scope() as session:
        status = prepare(session, digest_id, now=now, refresh=refresh)
        if status == DigestStatus.PENDING:
            status = compose_step(session, digest_id)
        if status in (DigestStatus.COMPOSED, DigestStatus.SENDING):  # sending: reconcile
            status = deliver_step(session, digest_id)
        return status


@dataclass
class TickResult:
    claimed: list[Digest]
    outcomes: dict[int, str]  # digest id -> what became of it (claimed and resumed ones)
    resumed: list[int]  # earlier digests whose chain or delivery was lost, picked up again


def send_due(now: dt.datetime | None = None, *, dry_run: bool = False,
             only_email: str | None = None, enqueue=None) -> TickResult:
    """One scheduler tick: claim due digests, pick up lost ones, and run each chain inline
    or hand its id to `enqueue`. Every step is idempotent, so a resumed chain that was only
    slow does no harm; a 'sending' digest is reconciled, not blindly resent."""
    now = now or utcnow()
    with session_scope() as session:
        claimed = schedule.claim_due(session, now, dry_run=dry_run, only_email=only_email)
        if dry_run or only_email:
            resumed = []
        else:  # sweeps use the real clock: `now` may be a pretend time for who is due
            claimed_ids = {d.id for d in claimed}
            resumed = [i for i in dict.fromkeys(schedule.stalled_digests(session)
                                                + deliver.pending_deliveries(session))
                       if i not in claimed_ids]
    outcomes: dict[int, str] = {}
    if dry_run:
        return TickResult(claimed, outcomes, resumed)
    runnable = {DigestStatus.PENDING, DigestStatus.COMPOSED}  # composed: the "nothing new" note
    ids = [d.id for d in claimed if d.status in runnable] + resumed
    outcomes.update({d.id: d.status for d in claimed if d.status not in runnable})
    for digest_id in ids:
        if enqueue is not None:
            enqueue(digest_id)
            outcomes[digest_id] = "queued"
            continue
        try:
            outcomes[digest_id] = run_digest(digest_id, now=now)
        except Exception as error:  # one subscriber's failure must not stop the tick
            log.exception("digest %s failed", digest_id)
            outcomes[digest_id] = f"error: {error}"
    return TickResult(claimed, outcomes, resumed)


@dataclass
class Preview:
    subject: str
    html: str
    text: str
    eml: bytes
    picks: list  # list[Pick], for --explain
    status: str


def preview(session: Session, subscriber: Subscriber, local_date: dt.date) -> Preview:
    """Build the digest for `local_date` without sending it or counting it as sent.

    An existing digest for that date is shown as it is; otherwise a temporary one is
    composed and deleted again, so the papers stay eligible for the real digest.
    """
    existing = session.exec(select(Digest).where(Digest.subscriber_id == subscriber.id,
                                                 Digest.local_date == local_date)).first()
    if existing is not None and existing.html:
        return _preview_of(session, existing, subscriber, _picks_of(session, existing))
    digest = existing or Digest(subscriber_id=subscriber.id, local_date=local_date)
    temporary = existing is None
    session.add(digest)
    session.commit()
    try:
        picks = select_papers(session, subscriber, digest=digest)
        for rank, pick in enumerate(picks, 1):
            session.add(DigestItem(digest_id=digest.id, paper_id=pick.paper.id, rank=rank,
                                   score=pick.score, reason=pick.reason[:500]))
        session.commit()
        if picks:
            compose.compose_digest(session, digest)
        return _preview_of(session, digest, subscriber, picks)
    finally:
        if temporary:
            session.exec(delete(DigestItem).where(DigestItem.digest_id == digest.id))
            session.delete(digest)
            session.commit()


def _picks_of(session: Session, digest: Digest) -> list[Pick]:
    """The picks a digest was built from, as stored (for `preview --explain`)."""
    rows = session.exec(select(DigestItem, Paper).join(Paper)
                        .where(DigestItem.digest_id == digest.id).order_by(DigestItem.rank)).all()
    return [Pick(paper, item.score, item.reason) for item, paper in rows]


def _preview_of(session, digest, subscriber, picks) -> Preview:
    if not digest.html:
        return Preview("", "", "", b"", picks, "empty")
    message = deliver.build_message(digest, subscriber)
    return Preview(digest.subject or "", digest.html, digest.text or "", message.as_bytes(),
                   picks, digest.status)
