"""A real Celery worker on the real Redis and PostgreSQL takes one digest to the outbox."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery, chain
from sqlmodel import Session, select

from newsletter.core import db
from newsletter.core.models import Digest, DigestStatus, Source
from newsletter.harvest import harvester
from tests.factories import make_subscriber
from tests.feedserver import FeedServer, arxiv_rss
from tests.test_pipeline import PAPERS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker(pg_url, redis_url, tmp_path):
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
         "-Q", "harvest,compose,deliver", "-c", "1", "-P", "solo", "-l", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    yield proc
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_it_runs_prepare_compose_deliver_in_a_real_worker(worker, pg_url, redis_url, tmp_path):
    server = FeedServer({})
    try:
        with Session(db.get_engine()) as session:
            harvester.ensure_sources(session)
            for source in session.exec(select(Source)).all():
                source.url = f"{server.url}/{source.name}"
                source.enabled = source.kind == "arxiv_rss"
                server.routes[f"/{source.name}"] = arxiv_rss("cs.CL", PAPERS)
                session.add(source)
            subscriber = make_subscriber(session, keywords=("language models",))
            digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 24))
            session.add(digest)
            session.commit()
            digest_id = digest.id

        client = Celery(broker=redis_url)
        steps = [("prepare_digest", "harvest"), ("compose_digest", "compose"),
                 ("deliver_digest", "deliver")]
        chain(*(client.signature(f"workers.tasks.{name}", args=[digest_id], immutable=True,
                                 queue=queue) for name, queue in steps)).delay()

        status, deadline = None, time.monotonic() + 90
        done = (DigestStatus.SENT, DigestStatus.FAILED)
        while time.monotonic() < deadline and status not in done:
            time.sleep(0.5)
            with Session(db.get_engine()) as session:
                status = session.get(Digest, digest_id).status
        log = (tmp_path / "worker.log").read_text()
        assert status == DigestStatus.SENT, log[-3000:]
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
        assert any(hits == 1 for hits in server.hits.values())
    finally:
        server.close()
