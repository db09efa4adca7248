"""Faults, for real: PostgreSQL, Redis, Celery worker processes and the fake SendGrid.

Each test runs ticks that claim every due subscriber, lets real workers take the digests
through prepare -> compose -> deliver, injects faults (two ticks at once, 429 / 500 /
timeouts, a SIGKILLed worker mid-send, database connections cut between the provider's 202
and our commit), and then checks the one thing that matters: every due subscriber has
exactly one email in the fake's log, and each failure left its reason behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from newsletter.core import config, db
from newsletter.core.models import Digest, DigestStatus, Event, Source
from newsletter.harvest import harvester
from tests.factories import make_subscriber
from tests.fake_sendgrid import API_KEY, FakeSendGrid
from tests.feedserver import FeedServer, arxiv_rss
from tests.test_pipeline import PAPERS

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[1]
TICK = "2026-11-24T12:00:00+00:00"  # a Tuesday: arXiv announced the evening before
ZONES = [("UTC", 7), ("Asia/Kolkata", 7), ("America/New_York", 7), ("Asia/Shanghai", 8),
         ("Pacific/Chatham", 0), ("America/Los_Angeles", 3)]
TERMINAL = (DigestStatus.SENT, DigestStatus.FAILED, DigestStatus.SKIPPED)


@pytest.fixture
def stack(pg_url, redis_url, tmp_path, monkeypatch):
    """Feeds, the fake SendGrid, subscribers in six zones; yields a worker launcher."""
    fake = FakeSendGrid(hang_seconds=4).__enter__()
    feeds = FeedServer({})
    for name, value in {"EMAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": API_KEY,
                        "SENDGRID_API_HOST": fake.url, "SENDGRID_TIMEOUT": "2",
                        "DELIVER_RECONCILE_SECONDS": "3"}.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    with Session(db.get_engine()) as session:
        harvester.ensure_sources(session)
        for source in session.exec(select(Source)).all():
            source.url = f"{feeds.url}/{source.name}"
            feeds.routes[f"/{source.name}"] = arxiv_rss("cs.CL", PAPERS)
            source.enabled = source.kind == "arxiv_rss"
            session.add(source)
        for n, (zone, hour) in enumerate(ZONES):
            make_subscriber(session, f"reader{n}@example.org", timezone=zone, send_hour=hour,
                            keywords=("language models",))
    workers: list[subprocess.Popen] = []

    def start_worker(name: str, concurrency: int = 1) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
             "-Q", "harvest,compose,deliver", "-c", str(concurrency), "-P", "prefork",
             "-n", f"{name}@%h", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
        workers.append(proc)
        return proc

    yield fake, start_worker, tmp_path
    for proc in workers:
        proc.terminate()
    for proc in workers:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    fake.__exit__(None, None, None)
    feeds.close()


def tick_from_two_processes(barrier: Path) -> int:
    """Run the scheduler tick from two OS processes at the same moment; returns total claims.

    Each process imports everything first, says it is ready, and waits for the go file, so the
    two ticks race however long the imports take on a loaded machine."""
    go = barrier / "go"
    code = ("import sys, time, pathlib\n"
            "from workers.tasks import dispatch_due\n"
            "print('ready', flush=True)\n"
            "while not pathlib.Path(sys.argv[2]).exists():\n"
            "    time.sleep(0.01)\n"
            "print(dispatch_due(sys.argv[1]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, TICK, str(go)], cwd=ROOT,
                              env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for proc in procs:  # a bounded wait for something that must happen, not a speed check
        assert proc.stdout.readline().strip() == "ready", proc.communicate(timeout=600)
    go.touch()
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    return sum(int(out.strip().splitlines()[-1]) for out, _ in outputs)


def wait_for_all(count: int, logs: Path, timeout: float = 600) -> list[Digest]:
    deadline = time.monotonic() + timeout
    digests: list[Digest] = []
    while time.monotonic() < deadline:
        try:
            with Session(db.get_engine()) as session:
                digests = list(session.exec(select(Digest)).all())
        except OperationalError:  # the outage test takes the database away for a moment
            time.sleep(0.5)
            continue
        if len(digests) == count and all(d.status in TERMINAL for d in digests):
            return digests
        time.sleep(0.5)
    tails = "\n".join(p.read_text()[-2500:] for p in logs.glob("*.log"))
    pytest.fail(f"digests not finished: {[(d.id, d.status, d.error) for d in digests]}\n{tails}")


def events(kind: str) -> list[Event]:
    with Session(db.get_engine()) as session:
        return list(session.exec(select(Event).where(Event.type == kind)).all())


def assert_one_email_each(fake: FakeSendGrid) -> None:
    counts = {f"reader{n}@example.org": len(fake.sent_to(f"reader{n}@example.org"))
              for n in range(len(ZONES))}
    assert counts == dict.fromkeys(counts, 1)


def test_it_sends_one_email_each_despite_double_ticks_rate_limits_errors_and_timeouts(stack):
    fake, start_worker, tmp_path = stack
    fake.script(429, 500, "hang", "hang-reject")
    start_worker("w1")
    start_worker("w2")
    assert tick_from_two_processes(tmp_path) == len(ZONES)  # each subscriber claimed once

    digests = wait_for_all(len(ZONES), tmp_path)

    assert {d.status for d in digests} == {DigestStatus.SENT}
    assert_one_email_each(fake)
    assert all(d.provider_message_id and d.provider_message_id.startswith("fake")
               for d in digests)
    reasons = " | ".join(e.payload["reason"] for e in events("retry"))
    assert "SendGrid 429" in reasons and "SendGrid 500" in reasons
    assert sum(e.payload["ambiguous"] for e in events("retry")) == 2  # the two timeouts
    assert len(events("reconciled")) >= 1  # the hang the fake had accepted


def test_it_sends_one_email_each_when_a_worker_dies_mid_send_and_the_database_drops(stack):
    fake, start_worker, tmp_path = stack
    fake.delay = 1.5  # every send takes a while: room to kill things in the middle
    worker = start_worker("w1")
    victims: dict[str, int] = {}
    first_send = threading.Event()
    requests = iter(range(1_000))

    def on_request(body):
        n = next(requests)
        digest_id = int(body["custom_args"]["digest_id"]) if body else -1
        if n == 0:
            victims["killed"] = digest_id
            first_send.set()
        elif n == 2:  # the database goes away while this send is in flight, for 3 seconds
            victims["dropped"] = digest_id
            database_outage(3.0)

    fake.on_request = on_request
    assert tick_from_two_processes(tmp_path) == len(ZONES)
    assert first_send.wait(60), (tmp_path / "w1.log").read_text()[-3000:]
    for child in children(worker.pid):  # SIGKILL the pool process inside the provider call
        os.kill(child, signal.SIGKILL)

    digests = wait_for_all(len(ZONES), tmp_path)

    assert {d.status for d in digests} == {DigestStatus.SENT}
    assert_one_email_each(fake)
    reconciled = {e.digest_id for e in events("reconciled")}
    assert victims["killed"] in reconciled  # resolved from the provider's record, not resent
    assert victims["dropped"] in reconciled  # its 202 arrived while the database was away
    attempts = {d.id: d.attempts for d in digests}
    assert attempts[victims["killed"]] == 1 and attempts[victims["dropped"]] == 1
    log = (tmp_path / "w1.log").read_text()
    assert "WorkerLostError" in log and "OperationalError" in log


def db_dsn(database: str | None = None) -> str:
    url = config.get_settings().database_url.replace("postgresql+psycopg://", "postgresql://")
    return url if database is None else url.rsplit("/", 1)[0] + f"/{database}"


def database_outage(seconds: float) -> None:
    """Refuse new connections and cut the open ones; come back after `seconds`."""
    name = db_dsn().rsplit("/", 1)[1]

    def allow(flag: bool) -> None:
        with psycopg.connect(db_dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(flag).lower()}')
            if not flag:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s", (name,))

    allow(False)
    threading.Timer(seconds, allow, args=(True,)).start()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found
