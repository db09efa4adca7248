"""The per-digest pipeline: prepare -> compose -> deliver, each step idempotent on a digest id.

Celery tasks (workers/tasks.py) and the CLI both call these functions, so the embedded mode
(no Redis) and production run the same code. A step that finds the digest already past it
does nothing, which is what makes retries and duplicate tasks harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlmodel import Session, col, delete, select

from newsletter.compose import view
from newsletter.core import logs, metrics
from newsletter.core.db import session_scope
from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Interest,
    Outcome,
    Paper,
    StepResult,
    Subscriber,
)
from newsletter.core.time import utcnow
from newsletter.delivery import state
from newsletter.delivery.message import build_message
from newsletter.harvest import harvester
from newsletter.locale.i18n import lazy
from newsletter.ranking import learning
from newsletter.ranking.candidates import Pick, select_batch, select_papers
from newsletter.ranking.reasons import reasons_from_json, reasons_to_json
from newsletter.scheduling import schedule

log = logging.getLogger(__name__)
# Stored in English on the digest; the web archive words it in the reader's language.
NO_MATCH = lazy.gettext("no new papers matched the topics")


def _refresh(session: Session, names: list[str]) -> None:
    """Make sure these feeds are fresh (each fetched at most once per window, shared).

    Every digest of a tick but the first finds its sources fresh: one query, no HTTP client."""
    if harvester.all_fresh(session, names):
        return
    harvester.ensure_sources(session)  # both tolerate a concurrent worker creating the rows
    harvester.harvest(session, names)


def prepare(session: Session, digest_id: int, *, now: dt.datetime | None = None,
            refresh: bool = True) -> StepResult:
    """Select the papers: writes the DigestItems, or marks the digest skipped."""
    return prepare_batch(session, [digest_id], now=now, refresh=refresh)[digest_id]


def prepare_batch(session: Session, digest_ids: list[int], *, now: dt.datetime | None = None,
                  refresh: bool = True) -> dict[int, StepResult]:
    """`prepare` for many digests: one freshness check, one ranking call, one commit.

    Per digest it is still idempotent: only pending digests are touched, and their items
    are replaced, never added to. Returns each digest's status afterwards."""
    ids = list(dict.fromkeys(digest_ids))
    digests = {d.id: d for d in session.exec(select(Digest).where(col(Digest.id).in_(ids)))}
    outcomes = _statuses(ids, digests)
    todo = [digests[i] for i in ids if i in digests and digests[i].status == DigestStatus.PENDING]
    if not todo:
        return outcomes
    subscribers = {s.id: s for s in session.exec(select(Subscriber).where(
        col(Subscriber.id).in_({d.subscriber_id for d in todo})))}
    skipped = todo  # whatever of these ends up skipped, deleted subscriber or no match
    for digest in todo:
        if digest.subscriber_id not in subscribers:
            digest.status, digest.error = DigestStatus.SKIPPED, "subscriber deleted"
    todo = [d for d in todo if d.subscriber_id in subscribers]
    interests = list(session.exec(select(Interest).where(
        col(Interest.subscriber_id).in_(list(subscribers)))))
    if refresh and todo:
        needs: dict[int, list[Interest]] = {sid: [] for sid in subscribers}
        for interest in interests:
            needs[interest.subscriber_id].append(interest)
        # The union of what each subscriber needs (an empty profile needs the defaults).
        _refresh(session, sorted({name for found in needs.values()
                                  for name in harvester.sources_for(found)}))
        # What that harvest just stored belongs to these digests, even on a tick's older `now`.
        now = max(now, utcnow()) if now else None
    if todo:  # models of subscribers whose library or ratings changed (nothing if none did)
        learning.refresh(session, now, [d.subscriber_id for d in todo])
    chosen = select_batch(session, [(subscribers[d.subscriber_id], d) for d in todo], now=now,
                          interests=interests)
    if todo:
        session.exec(delete(DigestItem).where(col(DigestItem.digest_id).in_([d.id for d in todo])))
    rows = []
    for digest, picks in zip(todo, chosen):
        if not picks:
            digest.status, digest.error = DigestStatus.SKIPPED, NO_MATCH.text()
            with logs.digest_scope(digest.id, digest.subscriber_id):
                log.info("digest %s skipped: %s", digest.id, digest.error)
        rows += [_item_row(digest.id, rank, pick) for rank, pick in enumerate(picks, 1)]
    if rows:  # plain rows, one executemany: no ORM objects to track and read ids back for
        session.execute(insert(DigestItem), rows)
    session.commit()
    metrics.digests(DigestStatus.SKIPPED, sum(d.status == DigestStatus.SKIPPED for d in skipped))
    outcomes.update(_statuses(ids, digests))
    return outcomes


def _statuses(ids: list[int], digests: dict[int, Digest]) -> dict[int, StepResult]:
    return {i: DigestStatus(digests[i].status) if i in digests else Outcome.MISSING for i in ids}


def _item_row(digest_id: int, rank: int, pick: Pick) -> dict:
    """A DigestItem as a plain row: the pick, its rank, its reasons as data."""
    return {"digest_id": digest_id, "paper_id": pick.paper.id, "rank": rank,
            "score": pick.score, "reasons": reasons_to_json(pick.reasons), "reason": "",
            "versions": [v.id for v in pick.versions]}


def compose_step(session: Session, digest_id: int) -> StepResult:
    digest = session.get(Digest, digest_id)
    if digest is None or digest.status != DigestStatus.PENDING:
        return DigestStatus(digest.status) if digest else Outcome.MISSING
    status = DigestStatus(view.compose_digest(session, digest).status)
    metrics.digests(DigestStatus.COMPOSED, status == DigestStatus.COMPOSED)
    return status


def compose_batch(session: Session, digest_ids: list[int]
                  ) -> tuple[dict[int, StepResult], list[int]]:
    """`compose_step` for many digests, with shared queries and one commit.

    Returns the statuses and the ids whose composing raised (not a database error, which
    propagates so the whole batch is retried): the caller hands those to the one-digest path.
    """
    ids = list(dict.fromkeys(digest_ids))
    digests = {d.id: d for d in session.exec(select(Digest).where(col(Digest.id).in_(ids)))}
    outcomes = _statuses(ids, digests)
    todo = [digests[i] for i in ids if i in digests and digests[i].status == DigestStatus.PENDING]
    statuses, failed = view.compose_many(session, todo)
    outcomes.update({i: DigestStatus(status) for i, status in statuses.items()})
    metrics.digests(DigestStatus.COMPOSED, sum(s == DigestStatus.COMPOSED
                                               for s in statuses.values()))
    return outcomes, failed


def deliver_step(session: Session, digest_id: int) -> StepResult:
    return state.deliver_digest(session, digest_id)


@contextmanager
def digest_scope(session: Session, digest_id: int) -> Iterator[None]:
    """Log lines inside name this digest and its subscriber (`newsletter.core.logs`)."""
    subscriber_id = session.exec(select(Digest.subscriber_id)
                                 .where(Digest.id == digest_id)).first()
    with logs.digest_scope(digest_id, subscriber_id):
        yield


def run_digest(digest_id: int, *, now: dt.datetime | None = None,
               refresh: bool = True) -> StepResult:
    """The whole chain in-process (embedded mode, CLI, tests)."""
    with session_scope() as session, digest_scope(session, digest_id):
        status = prepare(session, digest_id, now=now, refresh=refresh)
        if status == DigestStatus.PENDING:
            status = compose_step(session, digest_id)
        if status in (DigestStatus.COMPOSED, DigestStatus.SENDING):  # sending: reconcile
            status = deliver_step(session, digest_id)
        return status


@dataclass
class TickResult:
    claimed: list[Digest]
    outcomes: dict[int, StepResult]  # digest id -> what became of it (claimed and resumed)
    resumed: list[int]  # earlier digests whose chain or delivery was lost, picked up again
    errors: dict[int, str] = field(default_factory=dict)  # digest id -> why it is Outcome.ERROR


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
                                                + state.pending_deliveries(session))
                       if i not in claimed_ids]
    outcomes: dict[int, StepResult] = {}
    errors: dict[int, str] = {}
    if dry_run:
        return TickResult(claimed, outcomes, resumed)
    runnable = {DigestStatus.PENDING, DigestStatus.COMPOSED}  # composed: the "nothing new" note
    ids = [d.id for d in claimed if d.status in runnable] + resumed
    owners = {d.id: d.subscriber_id for d in claimed}  # for the log of a failed one
    outcomes.update({d.id: DigestStatus(d.status) for d in claimed if d.status not in runnable})
    for digest_id in ids:
        if enqueue is not None:
            enqueue(digest_id)
            outcomes[digest_id] = Outcome.QUEUED
            continue
        try:
            outcomes[digest_id] = run_digest(digest_id, now=now)
        except Exception as error:  # one subscriber's failure must not stop the tick
            with logs.digest_scope(digest_id, owners.get(digest_id)):
                log.exception("digest %s failed", digest_id)
            outcomes[digest_id], errors[digest_id] = Outcome.ERROR, str(error)
    return TickResult(claimed, outcomes, resumed, errors)


@dataclass
class Preview:
    subject: str
    html: str
    text: str
    eml: bytes
    picks: list  # list[Pick], for --explain
    status: StepResult  # the stored digest's status, or Outcome.EMPTY


def preview(session: Session, subscriber: Subscriber, local_date: dt.date) -> Preview:
    """Build the digest for `local_date` without sending it or counting it as sent.

    An existing digest for that date is shown as it is; otherwise a temporary one is
    composed and deleted again, so the papers stay eligible for the real digest. Like
    `prepare`, it first makes sure the subscriber's sources are fresh (each fetched at most
    once per window), so a new subscriber's first preview shows what sending would.
    """
    existing = session.exec(select(Digest).where(Digest.subscriber_id == subscriber.id,
                                                 Digest.local_date == local_date)).first()
    if existing is not None and existing.html:
        return _preview_of(session, existing, subscriber, _picks_of(session, existing))
    _refresh(session, harvester.sources_for(list(session.exec(
        select(Interest).where(Interest.subscriber_id == subscriber.id)))))
    digest = existing or Digest(subscriber_id=subscriber.id, local_date=local_date)
    temporary = existing is None
    session.add(digest)
    session.commit()
    try:
        learning.refresh(session, None, [subscriber.id])
        picks = select_papers(session, subscriber, digest=digest)
        for rank, pick in enumerate(picks, 1):
            session.add(DigestItem(**_item_row(digest.id, rank, pick)))
        session.commit()
        if picks:
            view.compose_digest(session, digest)
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
    return [Pick.of(paper, item.score, reasons_from_json(item.reasons), item.reason)
            for item, paper in rows]


def _preview_of(session, digest, subscriber, picks) -> Preview:
    if not digest.html:
        return Preview("", "", "", b"", picks, Outcome.EMPTY)
    message = build_message(digest, subscriber)
    return Preview(digest.subject or "", digest.html, digest.text or "", message.as_bytes(),
                   picks, DigestStatus(digest.status))
