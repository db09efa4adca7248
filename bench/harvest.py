"""Harvest throughput: parse + store a 2,000-entry arXiv RSS feed, on SQLite and PostgreSQL.

Run: `.venv/bin/python bench/harvest.py [--entries N]`. The feed is generated in memory in the
rss.arxiv.org format (a fifth of the entries carry TeX, a third are cross-lists, a tenth are
replacements). SQLite uses a temporary file; PostgreSQL uses a throwaway schema in the `test`
database on 127.0.0.1:5432 (DATABASE_URL_TEST overrides) and is skipped with a message when
unreachable. Prints papers/s for parsing, the first store (inserts), the same feed again
(no changes), and the next day's feed (half updated versions).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from bench.pg import throwaway_schema  # noqa: E402
from newsletter.core import models  # noqa: E402,F401  (registers the tables)
from newsletter.harvest.feeds import parse  # noqa: E402
from newsletter.harvest.store import store  # noqa: E402

WORDS = (
    "language model retrieval graph protein attention diffusion sparse robust causal "
    "benchmark agent reasoning transformer kernel bayesian calibration token genome"
).split()
CATEGORIES = ["cs.CL", "cs.LG", "cs.AI", "cs.CV", "stat.ML", "q-bio.GN", "cs.IR"]
# The trailing space after the announce type is arXiv's own.
ITEM = """    <item>
      <title>{title}</title>
      <link>https://arxiv.org/abs/{id}</link>
      <description>arXiv:{id}v{version} Announce Type: {announce}\x20
Abstract: {abstract}</description>
      <guid isPermaLink="false">oai:arXiv.org:{id}v{version}</guid>
{categories}      <pubDate>Wed, 25 Nov 2026 00:00:00 -0500</pubDate>
      <arxiv:announce_type>{announce}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{authors}</dc:creator>
    </item>
"""


def make_feed(entries: int, *, seed: int = 7, bump: bool = False) -> bytes:
    rng = random.Random(seed)
    items = []
    for n in range(entries):
        words = rng.sample(WORDS, 6)
        tex = n % 5 == 0
        title = " ".join(w.capitalize() for w in words) + (
            r" with $\mathcal{O}(n^{2})$ Cost" if tex else ""
        )
        abstract = " ".join(rng.choice(WORDS) for _ in range(150)) + "."
        if tex:
            abstract += r" We reach $F_{\max} = 0.9$ and a 12\% gain over Schr\"odinger baselines."
        cats = rng.sample(CATEGORIES, 1 + (n % 3 == 0) + (n % 7 == 0))
        version = (1 + (n % 10 == 0)) + (1 if bump and n % 2 == 0 else 0)
        announce = "replace" if version > 1 else ("cross" if len(cats) > 1 else "new")
        items.append(
            ITEM.format(
                id=f"2611.{n:05d}",
                version=version,
                announce=announce,
                title=title,
                abstract=abstract.replace("&", "&amp;").replace("<", "&lt;"),
                categories="".join(f"      <category>{c}</category>\n" for c in cats),
                authors=", ".join(f"Author{n}x{k} Surname{k}" for k in range(1 + n % 6)),
            )
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">\n  <channel>\n'
        "    <title>cs.CL updates on arXiv.org</title>\n    <link>http://rss.arxiv.org/rss/cs.CL</link>\n"
        "    <description>cs.CL updates on the arXiv.org e-print archive.</description>\n"
        + "".join(items)
        + "  </channel>\n</rss>\n"
    ).encode()


def timed(label: str, count: int, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"  {label:<38} {count:>6} papers {seconds:7.3f} s {count / seconds:10,.0f} papers/s")
    return result


def run(engine, name: str, feed: bytes, next_day: bytes) -> None:
    SQLModel.metadata.create_all(engine)
    print(f"{name}:")
    papers = parse("arxiv_rss", feed)
    updates = parse("arxiv_rss", next_day)
    other = feed.replace(b"2611.", b"2610.")  # same feed, ids not stored yet
    with Session(engine, expire_on_commit=False) as session:
        first = timed("store (all new)", len(papers), lambda: store(session, papers))
        again = timed("store again (unchanged)", len(papers), lambda: store(session, papers))
        later = timed(
            "store next day (half new versions)", len(updates), lambda: store(session, updates)
        )
        timed(
            "parse + store (end to end, all new)",
            len(papers),
            lambda: store(session, parse("arxiv_rss", other)),
        )
    print(f"  counts: first {first}, again {again}, next day {later}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args()
    feed = make_feed(args.entries)
    next_day = make_feed(args.entries, bump=True)
    print(f"feed: {args.entries} entries, {len(feed) / 1e6:.1f} MB")
    timed("parse (feedparser + cleaning)", args.entries, lambda: parse("arxiv_rss", feed))

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/bench.db", connect_args={"timeout": 30})
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA journal_mode=WAL"))
        run(engine, "SQLite (WAL, file)", feed, next_day)
        engine.dispose()

    with throwaway_schema("bench_harvest") as engine:
        if engine is not None:
            run(engine, "PostgreSQL (schema bench_harvest)", feed, next_day)


if __name__ == "__main__":
    main()
