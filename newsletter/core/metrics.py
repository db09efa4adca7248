"""Prometheus metrics: every metric the service exports, defined here once, and /metrics' body.

The stages call the small functions below at their seams (digest state transitions in
scheduling and delivery, the backends' send, the LLM ledger, the harvester, webhook ingest);
nothing else creates a metric. Queue depth is read from Redis at scrape time (LLEN of each
Celery queue) by a collector, so it is never stale and costs nothing between scrapes.

Several processes (uvicorn, Celery's prefork children, beat) each count their own work. With
`PROMETHEUS_MULTIPROC_DIR` set (an empty, writable folder shared by every process of the
machine, set before any of them starts) prometheus_client writes each process's values to
files there and the web's /metrics adds them up: one scrape sees the workers' sends and task
timings too. Without it, /metrics shows the web process alone (tests, `newsletter serve`,
where the whole pipeline runs in that one process anyway).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # a missing folder would fail every count
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

DIGESTS = Counter(
    "academichub_digests", "Digests reaching a point of their life, by outcome: due (a "
    "subscriber's send time came), claimed (the day's row inserted), composed, skipped, "
    "sent, retry (a transient send failure), failed", ["outcome"])
SENDS = Counter("academichub_sends", "Digest sends handed to the email backend, by result "
                "(ok, transient, permanent)", ["backend", "result"])
SEND_SECONDS = Histogram("academichub_send_seconds", "Seconds the email backend took to "
                         "accept (or refuse) one digest", ["backend"],
                         buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
LLM_CALLS = Counter("academichub_llm_calls", "LLM calls after retries (the LlmCall ledger), "
                    "by purpose and result (ok, error)", ["model", "purpose", "result"])
LLM_TOKENS = Counter("academichub_llm_tokens", "LLM tokens by kind: input, output, "
                     "cache_write, cache_read", ["model", "kind"])
LLM_COST = Counter("academichub_llm_cost_usd", "Estimated LLM spend in USD (LLM_PRICES)",
                   ["model"])
HARVESTS = Counter("academichub_harvests", "Source harvests by status: ok, not-modified, "
                   "error, fresh (skipped), busy (another worker had it)", ["source", "status"])
HARVEST_PAPERS = Counter("academichub_harvest_papers", "Papers stored by a harvest, by "
                         "change (new, updated)", ["source", "change"])
WEBHOOK_EVENTS = Counter("academichub_webhook_events", "Provider webhook events stored (a "
                         "replayed event is counted once), by type", ["type"])
TASKS = Counter("academichub_celery_tasks", "Celery tasks finished, by state (success, "
                "failure, retry, ignored, ...)", ["task", "state"])
TASK_SECONDS = Histogram("academichub_celery_task_seconds", "Seconds a Celery task ran",
                         ["task"], buckets=(.01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
QUEUE_DEPTH = "academichub_queue_depth"  # read at scrape time, see QueueDepth


def digests(outcome: str, count: int = 1) -> None:
    if count:
        DIGESTS.labels(outcome).inc(count)


def sent(backend: str, seconds: float, result: str) -> None:
    SENDS.labels(backend, result).inc()
    SEND_SECONDS.labels(backend).observe(seconds)


def llm_call(model: str, purpose: str, usage, cost: float, *, ok: bool) -> None:
    """One ledger row (`writing.synthesize._ledger`): the call, its tokens and cost."""
    LLM_CALLS.labels(model, purpose, "ok" if ok else "error").inc()
    for kind, value in (("input", usage.input_tokens), ("output", usage.output_tokens),
                        ("cache_write", usage.cache_creation_tokens),
                        ("cache_read", usage.cache_read_tokens)):
        if value:
            LLM_TOKENS.labels(model, kind).inc(value)
    if cost:
        LLM_COST.labels(model).inc(cost)


def harvested(source: str, status: str, new: int = 0, updated: int = 0) -> None:
    HARVESTS.labels(source, status).inc()
    for change, count in (("new", new), ("updated", updated)):
        if count:
            HARVEST_PAPERS.labels(source, change).inc(count)


def webhook_events(types: Iterable[str]) -> None:
    for kind in types:
        WEBHOOK_EVENTS.labels(kind).inc()


# -- Celery ---------------------------------------------------------------------------------

_started: dict[str, float] = {}


def instrument_celery() -> None:
    """Count and time every task through Celery's signals (connected once per process)."""
    from celery import signals

    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)
    signals.worker_process_shutdown.connect(_process_gone, weak=False)


def _task_started(task_id=None, **_kwargs) -> None:
    _started[task_id] = time.monotonic()


def _task_finished(task_id=None, task=None, state=None, **_kwargs) -> None:
    started = _started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    TASKS.labels(name, str(state or "unknown").lower()).inc()
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.monotonic() - started)


def _process_gone(**_kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


# -- exposition -----------------------------------------------------------------------------

class QueueDepth(Collector):
    """LLEN of each Celery queue in Redis, read when scraped; nothing without Redis."""

    def __init__(self, redis_url: str | None, queues: Iterable[str]) -> None:
        self.redis_url = redis_url
        self.queues = tuple(queues)

    def collect(self):
        if not self.redis_url:
            return
        import redis

        # kombu keeps a message with a priority in `queue\x06\x16N`; plain ones in `queue`.
        keys = {q: [q, *(f"{q}\x06\x16{p}" for p in (3, 6, 9))] for q in self.queues}
        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2,
                                          socket_connect_timeout=2)
            with client.pipeline(transaction=False) as pipe:
                for names in keys.values():
                    for name in names:
                        pipe.llen(name)
                lengths = iter(pipe.execute())
        except redis.RedisError as error:
            log.warning("queue depth not read: %s", error)
            return
        family = GaugeMetricFamily(QUEUE_DEPTH, "Messages waiting in each Celery queue "
                                   "(Redis LLEN at scrape time)", labels=["queue"])
        for queue, names in keys.items():
            family.add_metric([queue], sum(next(lengths) for _ in names))
        yield family


def exposition(redis_url: str | None, queues: Iterable[str]) -> tuple[bytes, str]:
    """The /metrics body: every process's values (multiprocess mode) or this one's, plus
    the queue depths."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    depth = CollectorRegistry(auto_describe=False)
    depth.register(QueueDepth(redis_url, queues))
    return generate_latest(registry) + generate_latest(depth), CONTENT_TYPE_LATEST
