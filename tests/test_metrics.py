"""GET /metrics: protected like /admin, and its counters move by what a real cycle did.

Counters are process-wide, so each test reads them before and after and compares the
difference with the rows the cycle stored (digests, LLM ledger, source, events)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import func, select

from newsletter.core import config
from newsletter.core.models import Digest, DigestStatus, LlmCall
from newsletter.scheduling import pipeline
from newsletter.tracking import track
from newsletter.writing import llm
from tests.factories import make_subscriber
from tests.fake_anthropic import FakeAnthropic
from tests.test_pipeline import feeds  # noqa: F401  (fixture: the arXiv feed on a local server)

TOKEN = "metrics-token-for-the-tests-0123456789"
TUESDAY_8AM = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)


@pytest.fixture
def client(monkeypatch, settings_env):
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    config.get_settings.cache_clear()
    from newsletter.web.app import create_app

    return TestClient(create_app(), follow_redirects=False)


def scrape(client) -> Counter:
    """Every sample of the exposition, by (name, sorted labels); parsed by prometheus_client."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = Counter()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] += sample.value
    return samples


def moved(before: Counter, after: Counter) -> dict:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def test_it_is_the_operators_alone(client, monkeypatch):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-Admin-Token": "wrong"}).status_code == 403
    assert client.get("/metrics", headers={"X-Admin-Token": TOKEN}).status_code == 200
    monkeypatch.delenv("ADMIN_TOKEN")
    config.get_settings.cache_clear()
    assert client.get("/metrics", headers={"X-Admin-Token": TOKEN}).status_code == 404


def test_it_counts_a_tick_from_harvest_to_sent(client, session, feeds, monkeypatch):  # noqa: F811
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        config.get_settings.cache_clear()
        llm.breaker.reset()
        for n in range(2):
            make_subscriber(session, f"reader{n}@example.org", keywords=("language models",))
        make_subscriber(session, "none@example.org", keywords=("volcanoes",),
                        categories=("astro-ph.GA",))
        before = scrape(client)
        result = pipeline.send_due(TUESDAY_8AM)
        after = scrape(client)

    statuses = Counter(result.outcomes.values())
    assert statuses == {DigestStatus.SENT: 2, DigestStatus.SKIPPED: 1}
    delta = moved(before, after)
    digests = {dict(labels)["outcome"]: value for (name, labels), value in delta.items()
               if name == "academichub_digests_total"}
    assert digests == {"due": 3, "claimed": 3, "skipped": 1, "composed": 2, "sent": 2}
    assert delta["academichub_sends_total", (("backend", "outbox"), ("result", "ok"))] == 2
    assert delta["academichub_send_seconds_count", (("backend", "outbox"),)] == 2
    assert delta["academichub_send_seconds_sum", (("backend", "outbox"),)] > 0

    harvested = {dict(labels)["source"]: value for (name, labels), value in delta.items()
                 if name == "academichub_harvests_total" and dict(labels)["status"] == "ok"}
    arxiv = {route.strip("/") for route, body in feeds.routes.items() if body}
    assert harvested and set(harvested) <= arxiv and set(harvested.values()) == {1}
    assert all(feeds.hits[f"/{source}"] == 1 for source in harvested)
    new = sum(value for (name, labels), value in delta.items()
              if name == "academichub_harvest_papers_total" and dict(labels)["change"] == "new")
    assert new == 3  # the feed's three papers

    ledger = session.exec(select(func.count(), func.sum(LlmCall.input_tokens),
                                 func.sum(LlmCall.output_tokens),
                                 func.sum(LlmCall.cost_usd))).one()
    calls = sum(value for (name, _), value in delta.items()
                if name == "academichub_llm_calls_total")
    tokens = {dict(labels)["kind"]: value for (name, labels), value in delta.items()
              if name == "academichub_llm_tokens_total"}
    cost = sum(value for (name, _), value in delta.items()
               if name == "academichub_llm_cost_usd_total")
    assert calls == ledger[0] >= 1
    assert (tokens["input"], tokens["output"]) == (ledger[1], ledger[2])
    assert cost == pytest.approx(ledger[3])


def test_it_counts_a_permanent_failure(client, session, feeds, monkeypatch):  # noqa: F811
    from tests.fake_sendgrid import API_KEY, FakeSendGrid

    with FakeSendGrid() as fake:
        monkeypatch.setenv("EMAIL_BACKEND", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
        monkeypatch.setenv("SENDGRID_API_HOST", fake.url)
        config.get_settings.cache_clear()
        make_subscriber(session)
        fake.script(400)
        before = scrape(client)
        pipeline.send_due(TUESDAY_8AM)
        delta = moved(before, scrape(client))
    assert delta["academichub_digests_total", (("outcome", "failed"),)] == 1
    assert delta["academichub_sends_total", (("backend", "sendgrid"),
                                             ("result", "permanent"))] == 1
    assert session.exec(select(Digest.status)).one() == DigestStatus.FAILED


def test_it_counts_webhook_events_by_type_once(client, session):
    subscriber = make_subscriber(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 24),
                    status=DigestStatus.SENT)
    session.add(digest)
    session.commit()
    now = int(time.time())
    events = [{"email": subscriber.email, "timestamp": now, "event": kind,
               "sg_event_id": f"e-{kind}", "digest_id": str(digest.id)}
              for kind in ("processed", "delivered", "open")]
    before = scrape(client)
    track.ingest_events(session, events)
    track.ingest_events(session, events[1:])  # SendGrid delivers again: counted once
    delta = moved(before, scrape(client))
    assert {dict(labels)["type"]: value for (name, labels), value in delta.items()
            if name == "academichub_webhook_events_total"} == {
        "processed": 1, "delivered": 1, "open": 1}


def test_it_counts_and_times_celery_tasks_through_signals(client, session):
    from workers import tasks

    before = scrape(client)
    tasks.expire_unconfirmed.apply()
    delta = moved(before, scrape(client))
    name = ("task", "workers.tasks.expire_unconfirmed")
    assert delta["academichub_celery_tasks_total", (("state", "success"), name)] == 1
    assert delta["academichub_celery_task_seconds_count", (name,)] == 1


def test_it_has_no_queue_depth_without_redis(client):
    assert not any(name.startswith("academichub_queue_depth") for name, _ in scrape(client))


def test_it_leaves_out_the_queue_depth_when_redis_is_down(client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    config.get_settings.cache_clear()
    assert not any(name.startswith("academichub_queue_depth") for name, _ in scrape(client))


@pytest.mark.redis
def test_it_reads_each_queue_depth_from_redis_at_scrape_time(client, redis_url):
    import redis

    r = redis.Redis.from_url(redis_url)
    r.lpush("compose", b"one", b"two")
    r.lpush("deliver", b"three")
    depth = {dict(labels)["queue"]: value for (name, labels), value in scrape(client).items()
             if name == "academichub_queue_depth"}
    assert depth == {"harvest": 0, "compose": 2, "deliver": 1}
    r.delete("compose")
    assert scrape(client)["academichub_queue_depth", (("queue", "compose"),)] == 0


def test_it_adds_up_every_process_in_multiprocess_mode(tmp_path):
    """Worker processes write their counts to PROMETHEUS_MULTIPROC_DIR; one scrape sums them."""
    folder = tmp_path / "metrics"  # its own: every *.db file in it is read as metrics
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    count = ("from newsletter.core import metrics; metrics.digests('sent', {n}); "
             "metrics.sent('outbox', 0.01, 'ok')")
    for n in (2, 3):  # two "workers"
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True)
    body = subprocess.run(
        [sys.executable, "-c", "import sys; from newsletter.core import metrics; "
         "sys.stdout.buffer.write(metrics.exposition(None, ())[0])"],
        env=env, check=True, capture_output=True).stdout.decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    assert samples["academichub_digests_total", (("outcome", "sent"),)] == 5
    assert samples["academichub_send_seconds_count", (("backend", "outbox"),)] == 2
