"""`newsletter demo`: one full cycle on embedded defaults, in under a minute, no keys needed.

Harvests live arXiv when it answers quickly, otherwise the bundled sample (our own file in
arXiv's RSS format), subscribes a demo researcher, and runs their digest to the outbox.
"""

from __future__ import annotations

from importlib import resources

import httpx
from sqlmodel import select

from newsletter.core import db
from newsletter.core.config import get_settings
from newsletter.core.db import session_scope
from newsletter.core.models import Digest, Subscriber
from newsletter.core.time import local_now
from newsletter.harvest import harvester
from newsletter.scheduling import pipeline
from newsletter.subscribers import lifecycle

DEMO_EMAIL = "demo.researcher@example.org"
DEMO_SOURCES = ["arxiv-cs.CL", "arxiv-cs.LG"]
DEMO_TOPICS = dict(
    keywords=("language models", "reinforcement learning", "protein"),
    categories=("cs.CL",),
    excludes=("cryptocurrency",),
)
PROBE_URL = "https://rss.arxiv.org/rss/cs.CL"


def arxiv_reachable(timeout: float = 3.0) -> bool:
    try:
        httpx.head(PROBE_URL, timeout=timeout, follow_redirects=True)
        return True
    except httpx.HTTPError:
        return False


def load_sample(session) -> int:
    data = resources.files("newsletter").joinpath("sample_data/arxiv_sample.rss.xml").read_bytes()
    papers = harvester.parse("arxiv_rss", data)
    harvester.store(session, papers)
    return len(papers)


def reset_demo_subscriber(session) -> Subscriber:
    """Start from scratch each run, so the demo always has papers it has not 'sent' yet."""
    old = session.exec(select(Subscriber).where(Subscriber.email == DEMO_EMAIL)).first()
    if old is not None:
        lifecycle.delete_data(session, old)
    return lifecycle.subscribe(session, DEMO_EMAIL, confirmed=True, source="demo",
                                 timezone="UTC", send_hour=7, max_papers=10, **DEMO_TOPICS)


def run(*, offline: bool = False, console=None) -> dict:
    say = console.print if console else (lambda *a, **k: None)
    db.upgrade()
    with session_scope() as session:
        harvester.ensure_sources(session)
        mode, count = "bundled sample (offline)", 0
        if not offline and arxiv_reachable():
            results = harvester.harvest(session, DEMO_SOURCES, force=True, progress=True)
            count = sum(r.count for r in results if r.status in ("ok", "not-modified"))
            mode = "live arXiv"
        if count == 0:
            if not offline:
                say("arXiv is not reachable from here: using the bundled sample feed")
            count = load_sample(session)
            mode = "bundled sample (offline)"
        subscriber = reset_demo_subscriber(session)
        today = local_now(subscriber.timezone).date()
        digest = Digest(subscriber_id=subscriber.id, local_date=today)
        session.add(digest)
        session.commit()
        digest_id = digest.id
    status = pipeline.run_digest(digest_id, refresh=False)
    with session_scope() as session:
        digest = session.get(Digest, digest_id)
        outbox = get_settings().outbox_dir.resolve()
        files = sorted(outbox.glob(f"*digest-{digest_id}*"))
        return {
            "papers harvested": f"{count} ({mode})",
            "subscriber": DEMO_EMAIL,
            "digest": f"#{digest_id} {status}",
            "subject": digest.subject or "-",
            "writer": digest.writer or "-",
            "email (.eml)": next((str(f) for f in files if f.suffix == ".eml"), "-"),
            "open in a browser": next((str(f) for f in files if f.suffix == ".html"), "-"),
            "database": get_settings().database_url,
        }
