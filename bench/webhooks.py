"""SendGrid webhook: how long a signed 3,000-event batch takes to ingest, and how fast
/healthz answers meanwhile.

Run: `.venv/bin/python bench/webhooks.py [--events N]` (default 3,000), by hand after a change
to `newsletter/tracking/track.py` or `newsletter/web/webhooks.py`; it asserts nothing
(tests/test_webhook_batches.py checks that /healthz answers while a batch is ingested). The
real app runs under uvicorn in a thread; one client posts the batch (signed with a generated
P-256 key, as SendGrid signs) while another asks /healthz every 20 ms. SQLite uses a
temporary file; PostgreSQL a throwaway schema in DATABASE_URL_TEST (skipped when unreachable).
Before issue 11 the handler ran on the event loop, one commit per event: ~9 s for 3,000
events, and /healthz waited all of it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from bench.pg import PG_URL, throwaway_schema  # noqa: E402
from newsletter.core import config, db  # noqa: E402
from tests.liveserver import running  # noqa: E402

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def signed_batch(n: int) -> tuple[bytes, dict[str, str]]:
    now = int(time.time())
    body = json.dumps([{"email": f"reader{i % 500}@example.org", "timestamp": now,
                        "event": ("processed", "delivered", "open")[i % 3],
                        "sg_event_id": f"bench-{now}-{i}", "sg_message_id": f"m{i}.filter"}
                       for i in range(n)]).encode()
    signature = KEY.sign(str(now).encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                  "X-Twilio-Email-Event-Webhook-Timestamp": str(now)}


def run(name: str, database_url: str, events: int) -> None:
    os.environ["DATABASE_URL"] = database_url
    config.get_settings.cache_clear()
    db.create_all()
    from newsletter.web.app import create_app

    body, headers = signed_batch(events)
    health: list[float] = []
    done = threading.Event()
    with running(create_app()) as base:
        httpx.get(f"{base}/healthz")  # warm: first connection, first query

        def probe() -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    client.get("/healthz")
                    health.append((time.perf_counter() - started) * 1000)
                    time.sleep(0.02)

        prober = threading.Thread(target=probe)
        prober.start()
        started = time.perf_counter()
        answer = httpx.post(f"{base}/webhooks/sendgrid", content=body, headers=headers,
                            timeout=300)
        ingest = time.perf_counter() - started
        done.set()
        prober.join()
    print(f"{name}: {answer.json()} in {ingest:.2f} s ({events / ingest:,.0f} events/s); "
          f"/healthz during it: {len(health)} answers, median {statistics.median(health):.1f} "
          f"ms, max {max(health):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args()
    os.environ.update(ENVIRONMENT="test", SECRET_KEY="bench-secret-key-not-for-production",
                      SENDGRID_WEBHOOK_PUBLIC_KEY=PUBLIC)
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args.events)
    with throwaway_schema("bench_webhooks") as engine:
        if engine is not None:
            run("PostgreSQL", f"{PG_URL}?options=-csearch_path%3Dbench_webhooks", args.events)


if __name__ == "__main__":
    main()
