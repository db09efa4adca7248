"""The archive page and its search on a year of daily digests: latency on SQLite and PostgreSQL.

Run: `.venv/bin/python bench/archive.py [--subscribers N] [--days D]` (default 50 subscribers x
365 days x 10 cards: 18,250 digests, 182,500 items, 14,600 papers with an English summary
each), by hand after a change to `newsletter/subscribers/archive.py` or its page; it asserts
nothing. One subscriber's archive is measured while the tables hold everyone's: the page of
past digests (first and last page), searches (a common word, a rare one, two words, an
author, a wildcard, CJK, no hit), each through the function and through the real page
(TestClient: routing, the signed link, rendering). Median and p95 of 20 runs after one warm
run; the tables are ANALYZEd after loading, as a live database's would be. SQLite uses a
temporary file; PostgreSQL a throwaway schema in DATABASE_URL_TEST (skipped when
unreachable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.pg import PG_URL, throwaway_schema  # noqa: E402
from newsletter.core import config, db, links  # noqa: E402
from newsletter.core.models import (  # noqa: E402
    Digest,
    DigestItem,
    Paper,
    PaperSummary,
    Rating,
    Subscriber,
)
from newsletter.subscribers import archive  # noqa: E402

WORDS = ("graph neural network transformer attention protein folding quantum error correction "
         "diffusion model retrieval reasoning benchmark climate ocean sparse kernel robot "
         "policy gradient language vision segmentation causal inference").split()
PER_DAY = 40  # papers published a day; each subscriber gets 10 of them
RUNS = 20
START = dt.date(2025, 12, 1)


def populate(engine, subscribers: int, days: int) -> Subscriber:
    rng = random.Random(7)
    papers, summaries = [], []
    for day in range(days):
        for k in range(PER_DAY):
            pid = f"arxiv:b{day:04d}.{k:05d}"
            words = " ".join(rng.choice(WORDS) for _ in range(8))
            title = f"{words.title()} {day}-{k}"
            if k == 0:
                title = f"大语言模型 {title}"
            papers.append({"id": pid, "version": 1, "title": title,
                           "authors": [f"Author{rng.randrange(5000)} Surname", "张三"
                                       if k == 1 else "Ada Lovelace"],
                           "abstract": " ".join(rng.choice(WORDS) for _ in range(180)),
                           "categories": ["cs.LG"], "primary_category": "cs.LG",
                           "url": f"https://arxiv.org/abs/b{day}.{k}", "source": "arxiv",
                           "published": START + dt.timedelta(days=day),
                           "article_type": "research", "first_seen": dt.datetime.now(dt.UTC),
                           "updated_at": dt.datetime.now(dt.UTC)})
            summaries.append({"paper_id": pid, "locale": "en", "model": "offline",
                              "prompt_version": "1", "created_at": dt.datetime.now(dt.UTC),
                              "text": " ".join(rng.choice(WORDS) for _ in range(40))})
    with Session(engine) as session:
        session.execute(insert(Paper), papers)
        session.execute(insert(PaperSummary), summaries)
        people = [{"email": f"r{i}@example.org", "public_id": f"bench{i}", "status": "active"}
                  for i in range(subscribers)]
        session.execute(insert(Subscriber), people)
        ids = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        digest_rows = [{"subscriber_id": sid, "local_date": START + dt.timedelta(days=day),
                        "status": "sent", "subject": f"Day {day}: {rng.choice(WORDS)}",
                        "attempts": 1, "created_at": dt.datetime.now(dt.UTC)}
                       for sid in ids for day in range(days)]
        session.execute(insert(Digest), digest_rows)
        digest_ids = session.execute(select(Digest.id, Digest.subscriber_id,
                                            Digest.local_date)).all()
        items, ratings = [], []
        for did, sid, day in digest_ids:
            n = (day - START).days
            for rank, k in enumerate(rng.sample(range(PER_DAY), 10), 1):
                pid = f"arxiv:b{n:04d}.{k:05d}"
                items.append({"digest_id": did, "paper_id": pid, "rank": rank, "score": 1.0,
                              "reasons": [], "reason": ""})
                if rank == 1 and n % 5 == 0:
                    ratings.append({"subscriber_id": sid, "paper_id": pid, "value": 1,
                                    "origin": "email", "updated_at": dt.datetime.now(dt.UTC)})
        for start in range(0, len(items), 20_000):
            session.execute(insert(DigestItem), items[start:start + 20_000])
        session.execute(insert(Rating), ratings)
        session.commit()
        session.execute(text("ANALYZE"))  # the planner's statistics, as autovacuum keeps them
        session.commit()
        return session.get(Subscriber, ids[len(ids) // 2])


def timed(call) -> tuple[float, float, object]:
    call()  # warm
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], result


def run(name: str, database_url: str, subscribers: int, days: int) -> None:
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    os.environ["DATABASE_URL"] = database_url
    config.get_settings.cache_clear()
    db.create_all()
    engine = db.get_engine()
    started = time.perf_counter()
    who = populate(engine, subscribers, days)
    print(f"{name}: {subscribers} subscribers x {days} days x 10 cards loaded in "
          f"{time.perf_counter() - started:.0f} s")
    path = "/a/" + links.make_token("archive", who.public_id, who.token_version)
    last = (days + archive.PER_PAGE - 1) // archive.PER_PAGE
    cases = [("past digests, page 1", None, 1), (f"past digests, page {last}", None, last),
             ("search 'attention' (common)", "attention", 1),
             ("search 'attention', page 5", "attention", 5),
             ("search 'graph transformer'", "graph transformer", 1),
             ("search '200-3' (one paper)", "200-3", 1), ("search author '张三'", "张三", 1),
             ("search '大语言模型'", "大语言模型", 1), ("search '100%' (no hit)", "100%", 1)]
    with Session(engine) as session, TestClient(create_app()) as client:
        for label, query, page in cases:
            if query is None:
                fn_med, fn_p95, found = timed(lambda p=page: archive.digests(session, who, p))
            else:
                words = archive.search_words(query)
                fn_med, fn_p95, found = timed(
                    lambda w=words, p=page: archive.search(session, who, w, p))
            params = {"page": page} | ({"q": query} if query else {})
            web_med, web_p95, answer = timed(lambda p=params: client.get(path, params=p))
            assert answer.status_code == 200, answer.status_code
            print(f"  {label:30} {len(found.rows):3} rows  query {fn_med:6.1f} ms "
                  f"(p95 {fn_p95:6.1f})  page {web_med:6.1f} ms (p95 {web_p95:6.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    os.environ.update(ENVIRONMENT="test", SECRET_KEY="bench-secret-key-not-for-production")
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args.subscribers, args.days)
    with throwaway_schema("bench_archive") as engine:
        if engine is not None:
            run("PostgreSQL", f"{PG_URL}?options=-csearch_path%3Dbench_archive",
                args.subscribers, args.days)


if __name__ == "__main__":
    main()
