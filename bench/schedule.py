"""Scheduler tick throughput: how fast one tick claims thousands of due subscribers.

Run: `.venv/bin/python bench/schedule.py [--subscribers N]` (default 3,000), by hand after a
change to `newsletter/scheduling/schedule.py` or to the Digest table's indexes; nothing runs
it automatically and it asserts nothing (tests/test_schedule.py checks that every subscriber
is claimed exactly once). Subscribers are spread over three time zones and six send hours,
all due at the tick's pretend time. SQLite uses a temporary file; PostgreSQL uses a throwaway
schema in DATABASE_URL_TEST (default: the `test` database on 127.0.0.1:5432) and is skipped
with a message when unreachable. Prints claims/s for the first tick (every row inserted) and
the time of the next tick five minutes later (everyone already claimed: the steady state of
a beat that ticks every few minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, SQLModel  # noqa: E402

from bench.pg import throwaway_schema  # noqa: E402
from newsletter.core.db import engine_for  # noqa: E402
from newsletter.core.models import Subscriber, SubscriberStatus  # noqa: E402
from newsletter.scheduling.schedule import claim_due  # noqa: E402

ZONES = ("UTC", "Asia/Kolkata", "America/Chicago")
TICK = dt.datetime(2026, 11, 24, 16, tzinfo=dt.UTC)  # a Tuesday: 10:00 in Chicago, all due


def run(engine, name: str, subscribers: int) -> None:
    SQLModel.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        session.add_all([Subscriber(email=f"s{n}@example.org", status=SubscriberStatus.ACTIVE,
                                    timezone=ZONES[n % 3], send_hour=n % 6)
                         for n in range(subscribers)])
        session.commit()
        started = time.perf_counter()
        claimed = claim_due(session, TICK)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = claim_due(session, TICK + dt.timedelta(minutes=5))
        steady = time.perf_counter() - started
    print(f"{name}:")
    print(f"  first tick   {len(claimed):>7,} claimed {first:8.3f} s "
          f"{len(claimed) / first:10,.0f} claims/s")
    print(f"  next tick    {len(again):>7,} claimed {steady:8.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    args = parser.parse_args()
    print(f"{args.subscribers:,} due subscribers in {len(ZONES)} zones, "
          f"tick at {TICK:%Y-%m-%d %H:%M} UTC")

    with tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(f"sqlite:///{tmp}/bench.db")  # WAL, as the product opens it
        run(engine, "SQLite (WAL, file)", args.subscribers)
        engine.dispose()

    with throwaway_schema("bench_schedule") as engine:
        if engine is not None:
            run(engine, "PostgreSQL (schema bench_schedule)", args.subscribers)


if __name__ == "__main__":
    main()
