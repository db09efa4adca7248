"""The Celery application: Redis broker, three queues, at-least-once delivery settings.

Run: `celery -A workers.celery_app worker -Q harvest,compose,deliver` and, once per
deployment, `celery -A workers.celery_app beat` (RedBeat for HA: see the README).
Tasks are idempotent, so `acks_late` + `reject_on_worker_lost` make a killed worker's task
run again instead of vanishing.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging
from kombu import Queue

from newsletter.core import metrics
from newsletter.core.config import get_settings
from workers.beat import schedule

settings = get_settings()
QUEUES = ("harvest", "compose", "deliver")  # also what /metrics reports the depth of
broker = settings.redis_url or "redis://127.0.0.1:6379/0"

app = Celery("academichub", broker=broker, include=["workers.tasks"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="compose",
    task_queues=[Queue(name) for name in QUEUES],
    task_routes={
        "workers.tasks.harvest_all": {"queue": "harvest"},
        "workers.tasks.prepare_digest": {"queue": "harvest"},
        "workers.tasks.compose_digest": {"queue": "compose"},
        "workers.tasks.dispatch_due": {"queue": "compose"},
        "workers.tasks.expire_unconfirmed": {"queue": "compose"},
        "workers.tasks.deliver_digest": {"queue": "deliver"},
        "workers.tasks.prepare_batch": {"queue": "harvest"},
        "workers.tasks.compose_batch": {"queue": "compose"},
        "workers.tasks.deliver_batch": {"queue": "deliver"},
    },
    # Longer than the longest task (a slow harvest with arXiv's 3 s spacing, or a retried send),
    # so Redis does not hand an unacknowledged task to a second worker while the first still runs.
    broker_transport_options={"visibility_timeout": 2 * 3600},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
    beat_schedule=schedule(),
)
metrics.instrument_celery()  # task counts and durations (multiprocess mode: see core/metrics)


@setup_logging.connect
def _logging(loglevel=None, **_kwargs) -> None:
    """Our handler and format (LOG_FORMAT) instead of Celery's; `-l` still sets the level."""
    from newsletter.core import logs

    logs.configure(loglevel or None)
