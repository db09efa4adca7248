"""Our click redirect, GET /c/{token}: a card's title link, whatever the email backend.

It redirects only to the paper's own http(s) URL. The first fetch per (digest, paper)
records one click event (the database dedupes it: INSERT ... ON CONFLICT on a key made of
both), and a reader's click is also one vote for the paper (Feedback 'click', weight 0.5 in
ranking), once. Mail scanners and link prefetchers fetch every link in an email: their
fetches count as the click but never vote. A fetch is taken for one (the heuristic is
documented in the README's design notes) when it is a HEAD request, announces itself as a
prefetch (`Sec-Purpose`, `Purpose`, `X-Moz`), has no User-Agent or a scanner's or bot's,
or comes within PREFETCH_SECONDS of the digest being sent. A revoked link (token version
bumped) or a deleted subscriber's link still redirects, and records nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from sqlmodel import Session, select

from newsletter.compose.render import safe_url
from newsletter.core import links
from newsletter.core.db import insert_ignore
from newsletter.core.models import Digest, Event, Feedback, Paper, Subscriber
from newsletter.core.time import as_utc, utcnow

PREFETCH_SECONDS = 60  # readers do not open an email and click within a minute of its sending
SCANNER_AGENTS = re.compile(
    r"bot\b|crawl|spider|preview|scan|proofpoint|mimecast|barracuda|safelinks|urldefense|"
    r"symantec|forcepoint|trend ?micro|fireeye|zscaler|sophos|cisco|ironport|appriver|"
    r"python-|curl/|wget/|go-http-client|java/|okhttp|headless|phantomjs", re.I)


@dataclass
class Fetch:
    """What the redirect knows about a fetch of a click link."""

    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    now: dt.datetime | None = None

    def prefetched(self, sent_at: dt.datetime | None) -> bool:
        agent = self.headers.get("user-agent", "")
        purpose = " ".join(self.headers.get(h, "") for h in ("sec-purpose", "purpose", "x-moz"))
        if self.method == "HEAD" or "prefetch" in purpose.lower() or "preview" in purpose.lower():
            return True
        if not agent.strip() or SCANNER_AGENTS.search(agent):
            return True
        now = as_utc(self.now or utcnow())
        return sent_at is not None and now - as_utc(sent_at) < dt.timedelta(
            seconds=PREFETCH_SECONDS)


def click_url(subscriber: Subscriber, paper_id: str, digest_id: int | None = None) -> str:
    """The signed redirect a card's title links to (compose calls this)."""
    extra = {"p": paper_id} | ({"d": digest_id} if digest_id is not None else {})
    return links.url_for("click", subscriber, **extra)


def record_click(session: Session, token: str, fetch: Fetch | None = None) -> str:
    """Record a click (and maybe a vote); return where to send the reader: the paper's own
    http(s) URL. Raises links.InvalidToken for a bad token or a paper without a safe URL."""
    fetch = fetch or Fetch()
    data = links.read_token("click", token)
    paper = session.get(Paper, str(data.extra.get("p", "")))
    target = safe_url((paper.url or "").strip()) if paper else None
    if target is None:
        raise links.InvalidToken("this link is not valid", "click")
    subscriber = links.subscriber_of(session, data)
    if subscriber is None:  # revoked or deleted: the reader still gets the paper
        return target
    digest_id = data.extra.get("d")
    digest = session.get(Digest, digest_id) if type(digest_id) is int else None
    if digest is not None and digest.subscriber_id != subscriber.id:
        digest = None
    prefetched = fetch.prefetched(digest.sent_at if digest else None)
    once = hashlib.sha256(f"{digest.id if digest else '-'}:{subscriber.id}:{paper.id}"
                          .encode()).hexdigest()[:40]
    session.execute(insert_ignore(session, Event, "provider_event_id").values(
        digest_id=digest.id if digest else None, subscriber_id=subscriber.id, type="click",
        time=as_utc(fetch.now or utcnow()), provider_event_id=f"click:{once}",
        payload={"paper_id": paper.id, "source": "redirect", "prefetch": prefetched,
                 "user_agent": fetch.headers.get("user-agent", "")[:200]}))
    voted = session.exec(select(Feedback.id).where(
        Feedback.subscriber_id == subscriber.id, Feedback.paper_id == paper.id,
        Feedback.signal == "click")).first()
    if not prefetched and voted is None:
        session.add(Feedback(subscriber_id=subscriber.id, paper_id=paper.id, signal="click"))
    session.commit()
    return target
