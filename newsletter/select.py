"""Select and rank the papers for one subscriber's digest (placeholder; see issue 7).

`select_papers` is the interface the pipeline calls; it never writes to the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, select

from newsletter.models import Digest, DigestItem, Interest, Paper, Subscriber, utcnow


@dataclass
class Pick:
    paper: Paper
    score: float
    reason: str  # human words: "matches 'distillation' in the title", "by Zhuokai Zhao"
    matched: list[str] = field(default_factory=list)  # topics / authors / categories matched
    followed_author: str | None = None


def select_papers(
    session: Session, subscriber: Subscriber, *, now: dt.datetime | None = None,
    limit: int | None = None,
) -> list[Pick]:
    now = now or utcnow()
    limit = limit or subscriber.max_papers
    interests = session.exec(select(Interest).where(Interest.subscriber_id == subscriber.id)).all()
    sent = set(session.exec(
        select(DigestItem.paper_id).join(Digest).where(Digest.subscriber_id == subscriber.id)
    ).all())
    since = now - dt.timedelta(days=7)
    papers = session.exec(select(Paper).where(Paper.first_seen >= since)).all()
    picks = []
    for paper in papers:
        if paper.id in sent:
            continue
        text = f"{paper.title} {paper.abstract}".lower()
        score, reasons = 0.0, []
        for interest in interests:
            value = interest.value.lower()
            if interest.kind == "exclude" and value in text:
                score = -1e9
            elif interest.kind == "keyword" and value in text:
                score += 2.0 if value in paper.title.lower() else 1.0
                reasons.append(f"matches '{interest.value}'")
            elif interest.kind == "category" and interest.value in paper.categories:
                score += 1.0
                reasons.append(interest.value)
            elif interest.kind == "author" and value in [a.lower() for a in paper.authors]:
                score += 100.0
                reasons.append(f"by {interest.value}")
        if score > 0:
            picks.append(Pick(paper, score, "; ".join(reasons), reasons))
    picks.sort(key=lambda p: (-p.score, p.paper.id))
    return picks[:limit]
