"""The landing page's live preview: recent papers from the store matching a draft of topics.

Runs on every debounced keystroke, before anyone has subscribed, so it ranks a draft profile
directly instead of going through `select_papers` (which needs a stored subscriber).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlmodel import Session, col, select

from newsletter.compose.render import safe_url
from newsletter.compose.view import is_preprint, source_label  # the same badge as the email
from newsletter.core.models import Paper
from newsletter.core.richtext import safe_markup
from newsletter.core.time import utcnow
from newsletter.harvest.sources import source_aliases
from newsletter.ranking import rank
from newsletter.ranking.candidates import hide_twins, window_index
from newsletter.ranking.reasons import reasons, reasons_to_json


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
    title_html: str = ""  # safe markup: the title with its sub/sup/i/b
    reasons: list[dict] = field(default_factory=list)  # why it matches, as data (stored form)
    export_url: str = ""  # its citation (BibTeX), on pages behind a subscriber's link

    @property
    def heading(self) -> str:  # "01. arXiv (cs.CL) 2026-06-19"
        category = f" ({self.category})" if self.category else ""
        return f"{self.n:02d}. {self.source}{category} {self.date}".rstrip()


def card(n: int, paper: Paper, *, abstract_chars: int = 420, why: list | None = None) -> Card:
    abstract = paper.abstract.strip()
    if len(abstract) > abstract_chars:
        abstract = abstract[:abstract_chars].rsplit(" ", 1)[0] + "…"
    return Card(n=n, id=paper.id, source=source_label(paper) or "Paper",
                category=(paper.primary_category or (paper.categories[:1] or [""])[0]
                          if is_preprint(paper) else ""),
                date=paper.published.isoformat() if paper.published else "",
                title=paper.title, abstract=abstract, url=safe_url(paper.url) or "",
                title_html=safe_markup(paper.title_html, paper.title),
                reasons=reasons_to_json(why or []))


def preview(session: Session, *, keywords=(), categories=(), authors=(), excludes=(),
            sources=(), page: int = 1, per_page: int = 5) -> tuple[list[Card], bool]:
    """One page of matching cards, numbered across pages, and whether more follow.

    Draft topics are ranked and explained by the same engine as the digest (`ranking.rank`,
    `ranking.reasons`) over the same cached index of the week's papers, so the preview
    shows what the email would, with the same reasons.
    """
    index = window_index(session, utcnow())
    corpus = index.corpus
    want = page * per_page + 1  # one more than shown tells whether another batch exists
    aliases = [a for s in sources for a in source_aliases(s)]
    # research only, as by default; a preprint and its journal version: one card, as in the
    # email (the one from a chosen journal)
    hidden = index.not_research.copy()
    hide_twins(index, hidden, aliases)
    profile = rank.Profile(keywords=list(keywords), categories=list(categories),
                           authors=list(authors), excludes=list(excludes), sources=aliases,
                           blocked=frozenset(np.flatnonzero(hidden).tolist()))
    topical = bool(keywords or categories or authors or sources)
    if topical:
        order = [i for i, _, _ in rank.rank(corpus, [profile], limit=want).for_profile(0)]
    else:  # no topics yet: the newest papers, minus excluded words (matched as the digest does)
        dropped = corpus.topic_scores(list(excludes)).present.any(axis=1) | hidden
        order = [i for i in sorted(range(len(index.ids)), key=lambda i: -corpus.docs[i].timestamp)
                 if not dropped[i]][:want]
    start = (page - 1) * per_page
    shown = order[start:start + per_page]
    ids = [index.ids[i] for i in shown]
    papers = {p.id: p for p in session.exec(select(Paper).where(col(Paper.id).in_(ids))).all()}
    cards = [card(start + n + 1, papers[index.ids[i]],
                  why=reasons(corpus, profile, i) if topical else None)
             for n, i in enumerate(shown) if index.ids[i] in papers]
    return cards, len(order) > start + per_page
