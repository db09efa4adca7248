"""Fan-out benchmark: one tick for 10,000 subscribers through real workers to a fake SendGrid.

Run: `.venv/bin/python bench/fanout.py [--subscribers N] [--workers 2] [--papers 1500]`.
Needs the real PostgreSQL (BENCH_DATABASE_URL, default database `bench` on 127.0.0.1, created
if missing and wiped) and Redis (BENCH_REDIS_URL, default db 7, flushed). It seeds a
1,500-paper day (sources marked fresh, so no network), subscribers spread over 24 time zones
and 50 interest profiles, all due at the tick; starts N Celery worker processes (prefork,
concurrency 1) and the fake SendGrid (tests/fake_sendgrid.py) in this process; runs the
scheduler tick (claim + enqueue, as beat's dispatch_due does); waits for the last digest.
Offline writer (no ANTHROPIC_API_KEY). Prints digests per second from tick to last send,
p50/p95 per-digest latency (claim -> sent, queueing included; and composed -> sent), and
the workers' peak memory. Target: >= 50 digests/s on 2 cores.

`--metrics` also runs the web app (uvicorn) and scrapes its /metrics every few seconds while
the run lasts, the workers writing to a fresh PROMETHEUS_MULTIPROC_DIR as in production
(README, "Production"); it prints what the scrapes saw (queue depths over time, the final
counters) and keeps the last exposition in /tmp/fanout-metrics.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
TICK = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # a Wednesday: news in every zone
ZONES = ["Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles",
         "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
         "Atlantic/Azores", "UTC", "Europe/Berlin", "Europe/Athens", "Europe/Moscow",
         "Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka",
         "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
         "Pacific/Chatham"]
CATEGORIES = ["cs.CL", "cs.LG", "cs.CV", "cs.AI", "stat.ML", "cs.RO", "cs.CR", "cs.IR",
              "q-bio.BM", "q-bio.NC", "physics.optics", "cond-mat.mtrl-sci", "math.OC",
              "eess.SP", "astro-ph.GA", "quant-ph", "econ.EM", "cs.SE", "cs.DC", "cs.HC"]
TOPICS = ["language models", "diffusion", "reinforcement learning", "graph neural networks",
          "protein structure", "retrieval", "robot manipulation", "federated learning",
          "quantum error correction", "causal inference", "speech recognition", "fairness",
          "knowledge distillation", "optimization", "vision transformers", "galaxy formation",
          "privacy", "code generation", "neural decoding", "materials discovery"]
WORDS = ["model", "data", "method", "learning", "results", "show", "propose", "network",
         "training", "task", "performance", "approach", "framework", "analysis", "dataset",
         "benchmark", "efficient", "robust", "scalable", "novel"]
AUTHORS = [f"{first} {last}" for first in ("Ada", "Alan", "Grace", "Emmy", "Kurt", "Lise")
           for last in ("Lovelace", "Turing", "Hopper", "Noether", "Goedel", "Meitner")]


def setup_env() -> None:
    os.environ.update({
        "ENVIRONMENT": "test", "SECRET_KEY": "bench-secret-key-not-for-production",
        "DATABASE_URL": DB_URL, "REDIS_URL": REDIS_URL, "EMAIL_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": "SG.fake-key-for-tests", "SENDGRID_TIMEOUT": "10",
        "PUBLIC_BASE_URL": "https://hub.example.org", "ARXIV_MIN_INTERVAL": "0",
        "OUTBOX_DIR": "/tmp/fanout-outbox",
    })
    os.environ.pop("ANTHROPIC_API_KEY", None)  # the offline writer


def reset_stores() -> None:
    import psycopg
    import redis
    from sqlalchemy import text
    from sqlmodel import SQLModel

    from newsletter.core import db

    plain = DB_URL.replace("+psycopg", "")
    name = plain.rsplit("/", 1)[1]
    with psycopg.connect(plain.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    engine = db.engine_for(DB_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    SQLModel.metadata.create_all(engine)
    redis.Redis.from_url(REDIS_URL).flushdb()


def profile(n: int) -> dict:
    rng = random.Random(n)
    return {"keyword": rng.sample(TOPICS, 2), "category": rng.sample(CATEGORIES, 1),
            "author": [AUTHORS[n % len(AUTHORS)]] if n % 5 == 0 else []}


def seed(subscribers: int, papers: int) -> None:
    from sqlalchemy import insert
    from sqlmodel import Session, select

    from newsletter.core import db
    from newsletter.core.models import Interest, Paper, Source, Subscriber
    from newsletter.core.time import utcnow
    from newsletter.harvest import harvester

    rng = random.Random(7)
    now = utcnow()
    rows = []
    for n in range(papers):
        cats = rng.sample(CATEGORIES, 2)
        topic = rng.choice(TOPICS)
        rows.append({
            "id": f"arxiv:2611.{n:05d}", "version": 1,
            "title": f"{topic.capitalize()} {' '.join(rng.sample(WORDS, 5))}",
            "authors": rng.sample(AUTHORS, 3),
            "abstract": " ".join(f"We {' '.join(rng.sample(WORDS, 8))} for {topic}."
                                 for _ in range(5)),
            "categories": cats, "primary_category": cats[0], "announce_type": "new",
            "published": dt.date(2026, 11, 24), "url": f"https://arxiv.org/abs/2611.{n:05d}",
            "pdf_url": f"https://arxiv.org/pdf/2611.{n:05d}", "source": "arxiv",
            "first_seen": now, "updated_at": now})
    people, interests = [], []
    for n in range(subscribers):
        zone = ZONES[n % len(ZONES)]
        local_hour = TICK.astimezone(ZoneInfo(zone)).hour
        people.append({"id": n + 1, "email": f"reader{n}@example.org", "status": "active",
                       "locale": "zh" if n % 10 == 0 else "en", "timezone": zone,
                       "send_hour": n % (local_hour + 1), "frequency": "daily", "weekday": 0,
                       "max_papers": 10, "token_version": 1, "created_at": now})
        for kind, values in profile(n % 50).items():
            interests += [{"subscriber_id": n + 1, "kind": kind, "value": v} for v in values]
    engine = db.get_engine()
    with engine.begin() as conn:
        conn.execute(insert(Paper), rows)
        conn.execute(insert(Subscriber), people)
        conn.execute(insert(Interest), interests)
    with Session(engine) as session:  # today's feeds are in: every source is fresh
        harvester.ensure_sources(session)
        for category in CATEGORIES:  # the on-demand feeds the profiles' categories need
            harvester.ensure_source(session, f"arxiv-{category}")
        for source in session.exec(select(Source)).all():
            source.last_fetch = source.last_success = now
            source.last_status, source.last_count = "ok", papers
            session.add(source)
        session.commit()


def analyze(*tables: str) -> None:
    """ANALYZE, as autovacuum would. This machine's PostgreSQL runs with autovacuum off, and
    without statistics the planner guesses that an `IN (50 ids)` matches a quarter of a
    table and scans it all; a deployment has autovacuum's statistics."""
    from sqlalchemy import text

    from newsletter.core import db

    with db.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {', '.join(tables)}"))


def autovacuum_off() -> bool:
    from sqlalchemy import text

    from newsletter.core import db

    with db.get_engine().connect() as conn:
        return conn.execute(text("SHOW autovacuum")).scalar() == "off"


def analyze_like_autovacuum(stop: threading.Event, every: float = 60.0) -> None:
    """While the run lasts, ANALYZE once a minute (autovacuum's default naptime), so tables
    that grow during the run (digest items, events) get statistics as they would in
    production; only when the server's own autovacuum is off."""
    while not stop.wait(every):
        analyze()


def start_workers(count: int, logs: Path) -> list[subprocess.Popen]:
    logs.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
         "-Q", "harvest,compose,deliver", "-c", "1", "-P", "prefork", "-n", f"bench{n}@%h",
         "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=dict(os.environ), stdout=open(logs / f"worker{n}.log", "w"),
        stderr=subprocess.STDOUT) for n in range(count)]


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children (the prefork pool), in MB."""
    total = 0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(c) for c in (task / "children").read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def wait_until_done(expected: int, timeout: float) -> None:
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from newsletter.core import db
    from newsletter.core.models import Digest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(db.get_engine()) as session:
            done = session.exec(select(func.count()).select_from(Digest).where(
                col(Digest.status).in_(["sent", "failed", "skipped"]))).one()
        print(f"\r  {done}/{expected} done", end="", flush=True)
        if done >= expected:
            print()
            return
        time.sleep(1.0)
    print("\n  timed out")


class Scraper:
    """The real web app in a subprocess, and a thread that scrapes its /metrics."""

    TOKEN = "bench-admin-token-0123456789abcdef"

    def __init__(self, every: float = 5.0) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.every = every
        self.samples: list[tuple[float, dict]] = []  # (time, {(name, labels): value})
        self.text = ""
        self.stop = threading.Event()
        self.web = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "newsletter.web.app:app", "--port",
             str(self.port), "--log-level", "warning"], cwd=ROOT,
            env={**os.environ, "ADMIN_TOKEN": self.TOKEN},
            stdout=open("/tmp/fanout-logs/web.log", "w"), stderr=subprocess.STDOUT)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def scrape(self) -> dict:
        import httpx

        response = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=30,
                             headers={"Authorization": f"Bearer {self.TOKEN}"})
        response.raise_for_status()
        self.text = response.text
        return parse_exposition(response.text)

    def start(self) -> None:
        import httpx

        for _ in range(120):
            try:
                self.scrape()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.samples.append((time.time(), self.scrape()))
            except Exception as error:  # noqa: BLE001  (a slow scrape is a figure, not a crash)
                print(f"\n  scrape failed: {error}")

    def finish(self, started: float) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.samples.append((time.time(), self.scrape()))
        self.web.terminate()
        self.web.wait(timeout=30)
        Path("/tmp/fanout-metrics.txt").write_text(self.text)
        print(f"/metrics scraped {len(self.samples)} times during the run "
              "(the last one in /tmp/fanout-metrics.txt):")
        for at, values in self.samples[:: max(1, len(self.samples) // 8)]:
            depth = {dict(k[1])["queue"]: int(v) for k, v in values.items()
                     if k[0] == "academichub_queue_depth"}
            sent = values.get(("academichub_digests_total", (("outcome", "sent"),)), 0)
            print(f"  t+{at - started:6.1f} s  sent {int(sent):6d}  queue depth {depth}")
        summarize(self.samples[-1][1])


def parse_exposition(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def summarize(final: dict) -> None:
    """The final counters of a scrape, one line per metric; mean durations per label."""
    for name in ("academichub_digests_total", "academichub_sends_total",
                 "academichub_celery_tasks_total", "academichub_harvests_total"):
        lines = sorted((labels, value) for (n, labels), value in final.items() if n == name)
        if lines:
            print(f"  {name}: " + "; ".join(
                f"{','.join(v for _, v in labels)}={value:g}" for labels, value in lines))
    for name, label in (("academichub_send_seconds", "backend"),
                        ("academichub_celery_task_seconds", "task")):
        for (n, labels), count in sorted(final.items()):
            if n == f"{name}_count" and count:
                total = final[f"{name}_sum", labels]
                print(f"  {name} {dict(labels)[label]}: {count:g} observed, "
                      f"mean {total / count * 1000:.1f} ms")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description="fan-out benchmark")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1_500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--metrics", action="store_true",
                        help="run the web app and scrape its /metrics during the run")
    args = parser.parse_args()
    setup_env()
    if args.metrics:  # before prometheus_client is imported, here and in every worker
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fanout-metrics-")
    from tests.fake_sendgrid import FakeSendGrid

    with FakeSendGrid() as fake:
        os.environ["SENDGRID_API_HOST"] = fake.url
        reset_stores()
        seed(args.subscribers, args.papers)
        analyze("subscriber", "interest", "paper", "source")  # the seeded ones, not the empty
        print(f"seeded {args.subscribers} subscribers ({len(ZONES)} zones, 50 profiles), "
              f"{args.papers} papers")
        workers = start_workers(args.workers, Path("/tmp/fanout-logs"))
        scraper = Scraper() if args.metrics else None
        if scraper:
            scraper.start()
        time.sleep(6)  # let the workers connect before the clock starts
        from workers.tasks import dispatch_due

        stop = threading.Event()
        if autovacuum_off():
            print("the server's autovacuum is off: analyzing once a minute in its place")
            threading.Thread(target=analyze_like_autovacuum, args=(stop,), daemon=True).start()
        started = time.time()
        claimed = dispatch_due(TICK.isoformat())
        enqueued = time.time() - started
        print(f"tick: claimed and enqueued {claimed} digests in {enqueued:.1f} s")
        wait_until_done(claimed, args.timeout)
        stop.set()
        memory = [peak_rss_mb(w.pid) for w in workers]
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        report(started, claimed, fake, memory)
        if scraper:
            scraper.finish(started)


def report(started: float, claimed: int, fake, memory: list[float]) -> None:
    from sqlmodel import Session, select

    from newsletter.core import db
    from newsletter.core.models import Digest

    with Session(db.get_engine()) as session:  # columns only: the html would cost gigabytes
        digests = session.exec(select(Digest.status, Digest.created_at, Digest.composed_at,
                                      Digest.sent_at, Digest.error)).all()
    sent = [d for d in digests if d.status == "sent"]
    statuses: dict[str, int] = {}
    for digest in digests:
        statuses[digest.status] = statuses.get(digest.status, 0) + 1
    if not sent:
        print("nothing sent:", statuses, [d.error for d in digests[:3]])
        return
    last = max(d.sent_at.timestamp() for d in sent)
    wall = last - started
    # From the tick: created_at is the tick's pretend `now` (TICK), not the wall clock.
    claim_to_sent = [d.sent_at.timestamp() - started for d in sent]
    composed_to_sent = [(d.sent_at - d.composed_at).total_seconds() for d in sent if d.composed_at]
    emails = len(fake.accepted)
    print(f"statuses: {statuses}; emails at the fake: {emails} "
          f"(distinct recipients {len({m['to'][0] for m in fake.accepted})})")
    print(f"digests/s (tick -> last send): {len(sent) / wall:.1f}  "
          f"({len(sent)} in {wall:.1f} s)")
    print(f"latency claim->sent: p50 {percentile(claim_to_sent, 50):.1f} s, "
          f"p95 {percentile(claim_to_sent, 95):.1f} s")
    print(f"latency composed->sent: p50 {percentile(composed_to_sent, 50) * 1000:.0f} ms, "
          f"p95 {percentile(composed_to_sent, 95) * 1000:.0f} ms")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: workers {', '.join(f'{m:.0f} MB' for m in memory)} "
          f"(main + pool child each); bench process {own:.0f} MB")


if __name__ == "__main__":
    main()
