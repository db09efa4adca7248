"""The landing page's live preview: recent papers from the store matching a draft of topics.

Runs on every keystroke-debounced request, before anyone has subscribed, so it matches in
memory over the most recent papers instead of going through `select_papers` (which needs a
stored subscriber). Plain substring matching is enough to show what the digest is like.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from newsletter.models import Paper

SCAN = 400  # newest papers considered
LABELS = {"arxiv": "arXiv", "biorxiv": "bioRxiv", "medrxiv": "medRxiv"}


@dataclass
class Card:
    n: int
    id: str
    source: str
    category: str
    date: str
    title: str
    abstract: str
    url: str

    @property
    def heading(self) -> str:  # "01. arXiv (cs.CL) 2026-06-19"
        category = f" ({self.category})" if self.category else ""
        return f"{self.n:02d}. {self.source}{category} {self.date}".rstrip()


def source_label(paper: Paper) -> str:
    return paper.journal or LABELS.get(paper.source.lower(), paper.source or "Paper")


def safe_link(url: str | None) -> str:
    """Feed URLs are untrusted: only http(s) becomes a link (no javascript: or data:)."""
    url = (url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) else ""


def card(n: int, paper: Paper, *, abstract_chars: int = 420) -> Card:
    abstract = paper.abstract.strip()
    if len(abstract) > abstract_chars:
        abstract = abstract[:abstract_chars].rsplit(" ", 1)[0] + "…"
    return Card(n=n, id=paper.id, source=source_label(paper),
                category=paper.primary_category or (paper.categories[:1] or [""])[0],
                date=paper.published.isoformat() if paper.published else "",
                title=paper.title, abstract=abstract, url=safe_link(paper.url))


def _score(paper: Paper, keywords, categories, authors) -> float:
    title, text = paper.title.lower(), f"{paper.title} {paper.abstract}".lower()
    names = [a.lower() for a in paper.authors]
    score = 0.0
    for word in keywords:
        score += 2.0 if word in title else 1.0 if word in text else 0.0
    score += sum(1.0 for c in categories if c in {x.lower() for x in paper.categories})
    score += sum(5.0 for a in authors if any(a in name for name in names))
    return score


def preview(session: Session, *, keywords=(), categories=(), authors=(), excludes=(),
            page: int = 1, per_page: int = 5) -> tuple[list[Card], bool]:
    """One page of matching cards, numbered across pages, and whether more follow."""
    keywords, categories, authors, excludes = (
        [v.lower() for v in values] for values in (keywords, categories, authors, excludes))
    papers = session.exec(select(Paper).order_by(
        Paper.published.desc(), Paper.first_seen.desc(), Paper.id).limit(SCAN)).all()
    topics = keywords or categories or authors
    ranked = []
    for index, paper in enumerate(papers):
        text = f"{paper.title} {paper.abstract}".lower()
        if any(word in text for word in excludes):
            continue
        score = _score(paper, keywords, categories, authors) if topics else 1.0
        if score > 0:
            ranked.append((-score, index, paper))
    ranked.sort(key=lambda r: (r[0], r[1]))
    start = (page - 1) * per_page
    chosen = ranked[start:start + per_page]
    cards = [card(start + i + 1, paper) for i, (_, _, paper) in enumerate(chosen)]
    return cards, len(ranked) > start + per_page
