"""How fast the subscriber pages answer: landing page, preview API, subscribe form.

Run: `.venv/bin/python bench/web_pages.py` (a throwaway SQLite store with 2,000 papers,
in-process through FastAPI's TestClient, so figures are the app's own cost, no network).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(label: str, fn, n: int) -> None:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    print(f"{label:<34} median {statistics.median(samples):6.1f} ms   "
          f"p95 {samples[int(len(samples) * 0.95) - 1]:6.1f} ms   ({n} requests)")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ah-bench-"))
    os.environ.update(ENVIRONMENT="test", SECRET_KEY="bench-secret-key-not-for-production",
                      DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
                      OUTBOX_DIR=str(work / "outbox"))
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from newsletter.core import db
    from newsletter.web.app import create_app
    from tests.factories import make_paper

    db.create_all()
    with Session(db.get_engine()) as session:
        for n in range(2000):
            topic = "language models" if n % 3 else "proteins"
            session.add(make_paper(title=f"Paper {n} on {topic}",
                                   abstract="We study a problem. " * 20))
        session.commit()
    client = TestClient(create_app())
    timed("GET / (landing, 5 cards)", lambda: client.get("/"), 100)
    timed("GET /api/preview (3 topics)", lambda: client.get(
        "/api/preview", params={"keywords": ["language models", "proteins"],
                                "categories": ["cs.CL"], "page": 3}), 200)
    page = client.get("/").text  # sets the CSRF cookie on the client
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    # 15: under the per-IP limit (20/hour), so every request does the full validation
    timed("POST /subscribe (inline error page)", lambda: client.post(
        "/subscribe", data={"csrf_token": csrf, "email": "nope"}), 15)

if __name__ == "__main__":
    main()
