"""The production topology on one machine: `bin/local-production` starts the Procfile under
honcho (web, worker, worker_harvest, beat) on the real PostgreSQL and Redis; someone
subscribes through the web, confirms from the outbox, beat's tick sends them their digest,
and the web's /metrics adds up what the worker processes counted. Then the process group
is stopped. The feeds come from a local server (FEED_BASE_OVERRIDE), beat ticks every 3 s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import os
import re
import signal
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PG_URL, REDIS_URL, require_service
from tests.feedserver import FeedServer, arxiv_rss
from tests.test_pipeline import PAPERS

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "topology-admin-token-0123456789abcdef"
READER = "reader@example.org"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fresh_services():
    """An empty PostgreSQL schema (the script migrates it) and an empty Redis database."""
    import redis
    from sqlalchemy import create_engine, text

    pg, broker = require_service("PostgreSQL", PG_URL), require_service("Redis", REDIS_URL)
    engine = create_engine(pg)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    redis.Redis.from_url(broker).flushdb()
    return pg, broker


def wait_for(what: str, probe, proc, log: Path, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"honcho exited ({proc.returncode}) before {what}:\n"
                        + log.read_text()[-4000:])
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}:\n" + log.read_text()[-4000:])


def descendants(pid: int) -> list[int]:
    """Every process under `pid` now (Linux /proc), children before their children."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found += (new := children.get(todo.pop(), []))
        todo += new
    return found


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """Stop honcho and everything it started. honcho runs each process in a session (a
    process group) of its own, so killing honcho's group reaches none of them: SIGTERM lets
    honcho stop them, then whatever of the tree is left (honcho hung or killed) is SIGKILLed
    group by group, so no server or worker outlives the test to answer the next one."""
    tree = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_stopping_leaves_no_process_behind_even_when_the_manager_hangs():
    """A manager that ignores SIGTERM, with a child in a session of its own (as honcho
    starts them): nothing of it is left running."""
    proc = subprocess.Popen([sys.executable, "-c",
                             "import signal, subprocess, sys, time\n"
                             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                             "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
                             "print('up', flush=True); time.sleep(300)"],
                            stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline() == b"up\n"
    [child] = descendants(proc.pid)
    stop(proc, grace=0.5)
    assert proc.returncode is not None
    assert alive(child) is False


def alive(pid: int, seconds: float = 10) -> bool:
    """Whether `pid` still runs after a while to die (SIGKILL is not instant)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True


def messages(outbox: Path) -> list:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(outbox.glob("*.eml"))]


def csrf(page: httpx.Response) -> str:
    return BeautifulSoup(page.text, "html.parser").find("input", {"name": "csrf_token"})["value"]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_it_runs_the_procfile_and_mails_a_subscriber_their_digest(fresh_services, tmp_path):
    pg, broker = fresh_services
    port, outbox = free_port(), tmp_path / "outbox"
    base = f"http://127.0.0.1:{port}"
    feed = arxiv_rss("cs.CL", PAPERS, when=dt.datetime.now(dt.UTC))
    feeds = FeedServer({}, respond=lambda path: (200, "application/rss+xml", feed)
                       if path.startswith("/rss/") else None)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DATABASE_", "REDIS_", "PROMETHEUS_"))}
    env.update(
        DATABASE_URL=pg, REDIS_URL=broker, ENVIRONMENT="test", PORT=str(port),
        SECRET_KEY="topology-test-secret-key-0123456789abcdef", ADMIN_TOKEN=TOKEN,
        PUBLIC_BASE_URL=base, OUTBOX_DIR=str(outbox), EMAIL_BACKEND="outbox",
        FEED_BASE_OVERRIDE=feeds.url, ARXIV_MIN_INTERVAL="0", SEND_EMPTY_NOTE="true",
        BEAT_DISPATCH_DUE="3s", BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"), WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1")
    log = tmp_path / "honcho.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ROOT / "bin/local-production"), "--no-colour"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group, stopped below
    try:
        with httpx.Client(base_url=base, timeout=10) as web:
            def healthy():
                try:
                    return web.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("the web process", healthy, proc, log)
            answer = web.post("/subscribe", data={
                "csrf_token": csrf(web.get("/")), "email": READER, "keywords": "language models",
                "categories": "cs.CL", "timezone": "UTC", "send_hour": "0",
                "frequency": "daily", "locale": "en"})
            assert answer.status_code < 400, answer.text
            confirm = wait_for("the confirmation email", lambda: [
                m for m in messages(outbox) if "/confirm/" in m.get_body(("plain",)).get_content()
            ], proc, log)[0]
            link = re.search(re.escape(base) + r"(/confirm/[A-Za-z0-9_.\-]+)",
                             confirm.get_body(("plain",)).get_content()).group(1)
            confirmed = web.post(link, data={"csrf_token": csrf(web.get(link))})
            assert confirmed.status_code == 200, confirmed.text

            digest = wait_for("the digest in the outbox (beat -> dispatch_due -> prepare -> "
                              "compose -> deliver)", lambda: [
                m for m in messages(outbox) if m["X-AcademicHub-Digest"]], proc, log)[0]
            assert digest["To"] == READER and digest["List-Unsubscribe"]

            def sent_counted():  # the worker's counters reach the web's /metrics
                body = web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
                samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                           for family in text_string_to_metric_families(body)
                           for s in family.samples}
                return samples if samples.get(
                    ("academichub_digests_total", (("outcome", "sent"),))) == 1 else None

            samples = wait_for("the sent digest in /metrics", sent_counted, proc, log, 15)
            tasks = {dict(labels)["task"] for (name, labels) in samples
                     if name == "academichub_celery_tasks_total"}
            assert {"workers.tasks.dispatch_due", "workers.tasks.deliver_digest"} <= tasks
            assert ("academichub_queue_depth", (("queue", "deliver"),)) in samples
    finally:
        stop(proc)  # honcho and every process it started
        feeds.close()
    assert proc.returncode is not None
