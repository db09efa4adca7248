"""Celery tasks: thin wrappers that pass ids and call the pipeline's plain functions.

A tick hands digests out in batches (`dispatch_batch_size` ids per task): prepare ranks a
whole batch in one call, and compose and deliver share one session and one provider client
across it, which is what makes 10,000 digests fit in minutes on two cores. Every per-digest
step stays idempotent, so a batch that is retried or redelivered (acks_late) repeats nothing
that was done; a digest that needs its own retry (a 429, a timeout, an error of its own)
leaves the batch for the one-digest tasks below, which are also what older chains call.
"""

from __future__ import annotations

import logging

from celery.exceptions import Ignore
from sqlalchemy.exc import DBAPIError, OperationalError

from newsletter.core.config import Settings, get_settings
from newsletter.core.db import session_scope
from newsletter.core.models import StepResult
from newsletter.core.time import parse_iso, utcnow
from newsletter.delivery import state
from newsletter.delivery.backends import EmailBackend, TransientError, get_backend
from newsletter.harvest import harvester
from newsletter.scheduling import pipeline
from newsletter.subscribers import lifecycle
from workers.celery_app import app

log = logging.getLogger(__name__)
RETRY = dict(retry_backoff=True, retry_backoff_max=600, retry_jitter=True, max_retries=8)


@app.task(autoretry_for=(OperationalError,), **RETRY)
def harvest_all() -> int:
    with session_scope() as session:
        harvester.ensure_sources(session)
        results = harvester.harvest(session)
    if any(r.new for r in results):  # new journal papers may need Crossref's abstract
        enrich_papers.apply_async(queue="harvest")
    return len(results)


@app.task(autoretry_for=(OperationalError,), **RETRY)
def enrich_papers() -> int:
    """Crossref's abstracts and authors for thin journal papers (never fails for Crossref)."""
    from newsletter.harvest import crossref

    with session_scope() as session:
        report = crossref.enrich_safely(session)
    return report.enriched if report else 0


@app.task(autoretry_for=(OperationalError,), **RETRY)
def learn() -> int:
    """Representation, paper vectors and changed subscribers' models up to date."""
    from newsletter.ranking import learning

    with session_scope() as session:
        return learning.refresh(session).models


@app.task
def dispatch_due(now: str | None = None) -> int:
    when = parse_iso(now) if now else None
    ids: list[int] = []
    claimed = pipeline.send_due(when, enqueue=ids.append).claimed
    size = get_settings().dispatch_batch_size
    for start in range(0, len(ids), size):
        start_batch(ids[start:start + size])
    return len(claimed)


def start_chain(digest_id: int) -> None:
    (prepare_digest.si(digest_id) | compose_digest.si(digest_id)
     | deliver_digest.si(digest_id)).delay()


def start_batch(digest_ids: list[int]) -> None:
    if len(digest_ids) == 1:
        start_chain(digest_ids[0])
        return
    (prepare_batch.si(digest_ids) | compose_batch.si(digest_ids)
     | deliver_batch.si(digest_ids)).delay()


# -- one digest (retries, sweeps of older chains) ---------------------------------------------


@app.task(autoretry_for=(OperationalError,), **RETRY)
def prepare_digest(digest_id: int) -> StepResult:
    with session_scope() as session, pipeline.digest_scope(session, digest_id):
        return pipeline.prepare(session, digest_id)


@app.task(autoretry_for=(OperationalError,), **RETRY)
def compose_digest(digest_id: int) -> StepResult:
    with session_scope() as session, pipeline.digest_scope(session, digest_id):
        return pipeline.compose_step(session, digest_id)


@app.task(bind=True, autoretry_for=(OperationalError,), **RETRY)
def deliver_digest(self, digest_id: int) -> StepResult:
    try:
        with session_scope() as session, pipeline.digest_scope(session, digest_id):
            return state.deliver_digest(session, digest_id, backend=backend())
    except TransientError as error:
        # Honour the provider's own wait (X-RateLimit-Reset) when it gives one.
        raise self.retry(exc=error, countdown=retry_wait(error, self.request.retries),
                         max_retries=RETRY["max_retries"]) from error


def retry_wait(error: TransientError, retries: int) -> float:
    return error.retry_after if error.retry_after is not None else min(600, 2 ** retries * 5)


# -- batches ----------------------------------------------------------------------------------


@app.task(autoretry_for=(OperationalError,), **RETRY)
def prepare_batch(digest_ids: list[int]) -> int:
    try:
        with session_scope() as session:
            return len(pipeline.prepare_batch(session, digest_ids))
    except DBAPIError:
        raise
    except Exception:  # one digest's data must not hold up the others: go one by one
        log.exception("preparing a batch of %d failed; running its digests singly",
                      len(digest_ids))
        for digest_id in digest_ids:
            start_chain(digest_id)
        raise Ignore() from None  # the single chains take over; this chain stops here


@app.task(autoretry_for=(OperationalError,), **RETRY)
def compose_batch(digest_ids: list[int]) -> int:
    with session_scope() as session:
        statuses, failed = pipeline.compose_batch(session, digest_ids)
    for digest_id in failed:  # its own error: the one-digest chain retries and records it
        (compose_digest.si(digest_id) | deliver_digest.si(digest_id)).delay()
    return len(statuses)


@app.task(autoretry_for=(OperationalError,), **RETRY)
def deliver_batch(digest_ids: list[int]) -> int:
    with session_scope() as session:
        outcomes = state.deliver_many(session, digest_ids, backend=backend())
    for digest_id, outcome in outcomes.items():
        if isinstance(outcome, TransientError):
            deliver_digest.apply_async((digest_id,), countdown=retry_wait(outcome, 0))
    return len(outcomes)


_backend: tuple[Settings, EmailBackend] | None = None


def backend() -> EmailBackend:
    """One email backend (one SendGrid client) per worker process, until settings change."""
    global _backend
    settings = get_settings()
    if _backend is None or _backend[0] is not settings:
        _backend = (settings, get_backend())
    return _backend[1]


@app.task
def expire_unconfirmed() -> int:
    with session_scope() as session:
        return lifecycle.expire_unconfirmed(session, utcnow())
