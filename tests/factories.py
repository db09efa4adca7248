"""Factories for the objects most tests need: papers and subscribers with interests."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlmodel import Session

from newsletter.core.models import Digest, DigestItem, Interest, Paper, Subscriber, SubscriberStatus

_ids = itertools.count(1)


def make_paper(session: Session | None = None, **fields) -> Paper:
    n = next(_ids)
    values = dict(
        id=f"arxiv:2611.{n:05d}",
        version=1,
        title=f"Paper number {n} on test-driven science",
        authors=["Ada Lovelace", "Alan Turing"],
        abstract="We study a problem. We find a result. It matters for everyone.",
        categories=["cs.CL"],
        primary_category="cs.CL",
        announce_type="new",
        published=dt.date(2026, 11, 25),
        url=f"https://arxiv.org/abs/2611.{n:05d}",
        pdf_url=f"https://arxiv.org/pdf/2611.{n:05d}",
        source="arxiv",
    )
    values.update(fields)
    paper = Paper(**values)
    if session is not None:
        session.add(paper)
        session.commit()
    return paper


def make_subscriber(
    session: Session,
    email: str = "ada@example.org",
    *,
    keywords: tuple[str, ...] = ("language models",),
    categories: tuple[str, ...] = (),
    authors: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    **fields,
) -> Subscriber:
    values = dict(email=email, status=SubscriberStatus.ACTIVE, timezone="UTC", send_hour=7)
    values.update(fields)
    subscriber = Subscriber(**values)
    session.add(subscriber)
    session.flush()
    for kind, items in (
        ("keyword", keywords),
        ("category", categories),
        ("author", authors),
        ("exclude", excludes),
    ):
        for value in items:
            session.add(Interest(subscriber_id=subscriber.id, kind=kind, value=value))
    session.commit()
    return subscriber


def make_digest(session: Session, subscriber: Subscriber, papers: list[Paper], *,
                local_date: dt.date = dt.date(2026, 11, 25), **fields) -> Digest:
    """A digest of `papers` (ranked in order) for `subscriber`; `fields` set its columns."""
    digest = Digest(subscriber_id=subscriber.id, local_date=local_date, **fields)
    session.add(digest)
    session.flush()
    for rank, paper in enumerate(papers, 1):
        session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=rank))
    session.commit()
    return digest
