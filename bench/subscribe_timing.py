"""Subscribe timing: does the answer take longer for a new address than for a subscribed one?

Run: `.venv/bin/python bench/subscribe_timing.py [--rounds N]` (default 200 of each), by hand
after a change to subscribing (`newsletter/web/signup.py`, `api.py`, `subscribers/`); it
asserts nothing (tests check that both paths do the same work: one email each, sent after the
answer). The real app runs under uvicorn on SQLite (a temporary file) with the outbox
backend; requests go in pairs, a new address and an already active one in random order,
each on its own connection and from its own client address (TRUSTED_PROXIES=127.0.0.1 and
X-Forwarded-For, so the per-client limit counts each once). Prints the median, p90 and the
median difference. Before issue 11 an active address answered in ~12 ms and a new one in
~36 ms (the confirmation was sent inline).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--one-connection", action="store_true",
                        help="all requests on one kept-alive connection (each then waits for "
                             "the previous one's background email)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ah-bench-"))
    os.environ.update(ENVIRONMENT="test", SECRET_KEY="bench-secret-key-not-for-production",
                      DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
                      OUTBOX_DIR=str(work / "outbox"), TRUSTED_PROXIES="127.0.0.1")
    from sqlmodel import Session

    from newsletter.core import db
    from newsletter.web.app import create_app
    from tests.factories import make_subscriber
    from tests.liveserver import running

    db.create_all()
    with Session(db.get_engine()) as session:
        for n in range(args.rounds):
            make_subscriber(session, f"known{n}@example.org")
    timings: dict[str, list[float]] = {"new": [], "subscribed": []}
    order = random.Random(11)
    with running(create_app()) as base, httpx.Client(base_url=base, timeout=30) as shared:
        shared.get("/healthz")
        for n in range(args.rounds):
            pair = [("new", f"new{n}@example.org"), ("subscribed", f"known{n}@example.org")]
            order.shuffle(pair)
            for kind, email in pair:
                headers = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.{len(kind)}"}
                client = shared if args.one_connection else httpx.Client(base_url=base,
                                                                         timeout=30)
                if not args.one_connection:
                    time.sleep(0.02)  # the previous request's email is sent meanwhile
                    client.get("/healthz")  # connected before the clock starts
                started = time.perf_counter()
                answer = client.post("/api/subscribe", headers=headers,
                                     json={"email": email, "keywords": ["graphs"]})
                timings[kind].append((time.perf_counter() - started) * 1000)
                if client is not shared:
                    client.close()
                assert answer.status_code == 202, answer.text
        time.sleep(1)  # the last background emails
    sent = len(list((work / "outbox").glob("*.eml")))
    for kind, samples in timings.items():
        samples.sort()
        print(f"{kind:<11} median {statistics.median(samples):6.2f} ms   "
              f"p90 {samples[int(len(samples) * 0.9)]:6.2f} ms   ({len(samples)} requests)")
    difference = statistics.median(timings["new"]) - statistics.median(timings["subscribed"])
    print(f"median difference (new - subscribed): {difference:+.2f} ms; "
          f"emails sent: {sent} of {2 * args.rounds}")


if __name__ == "__main__":
    main()
