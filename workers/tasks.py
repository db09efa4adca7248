"""Celery tasks: thin wrappers that pass ids and call the pipeline's plain functions."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from newsletter import deliver, harvest, pipeline, subscribers
from newsletter.db import session_scope
from workers.celery_app import app

RETRY = dict(retry_backoff=True, retry_backoff_max=600, retry_jitter=True, max_retries=8)


@app.task(autoretry_for=(OperationalError,), **RETRY)
def harvest_all() -> int:
    with session_scope() as session:
        harvest.ensure_sources(session)
        return len(harvest.harvest(session))


@app.task
def dispatch_due(now: str | None = None) -> int:
    import datetime as dt

    when = dt.datetime.fromisoformat(now) if now else None
    return len(pipeline.send_due(when, enqueue=start_chain).claimed)


def start_chain(digest_id: int) -> None:
    (prepare_digest.si(digest_id) | compose_digest.si(digest_id) | deliver_digest.si(digest_id)).delay()


@app.task(autoretry_for=(OperationalError,), **RETRY)
def prepare_digest(digest_id: int) -> str:
    with session_scope() as session:
        return pipeline.prepare(session, digest_id)


@app.task(autoretry_for=(OperationalError,), **RETRY)
def compose_digest(digest_id: int) -> str:
    with session_scope() as session:
        return pipeline.compose_step(session, digest_id)


@app.task(bind=True, autoretry_for=(OperationalError,), **RETRY)
def deliver_digest(self, digest_id: int) -> str:
    try:
        with session_scope() as session:
            return pipeline.deliver_step(session, digest_id)
    except deliver.TransientError as error:
        # Honour the provider's own wait (X-RateLimit-Reset) when it gives one.
        wait = error.retry_after
        if wait is None:
            wait = min(600, 2 ** self.request.retries * 5)
        raise self.retry(exc=error, countdown=wait, max_retries=RETRY["max_retries"]) from error


@app.task
def expire_unconfirmed() -> int:
    import datetime as dt

    with session_scope() as session:
        return subscribers.expire_unconfirmed(session, dt.datetime.now(dt.UTC))
