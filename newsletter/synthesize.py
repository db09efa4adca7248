"""Write the digest's words: synthesis, lead theme, preheader, per-paper summaries.

Placeholder offline writer (issue 4 brings Claude). `write` is the interface the compose
stage calls; it must never raise for content reasons: any failure falls back offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel import Session

from newsletter.select import Pick

SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Writing:
    theme: str  # the lead theme, for the subject line
    preheader: str
    synthesis: str  # plain text paragraphs separated by blank lines, citing cards as [n]
    summaries: dict[str, str] = field(default_factory=dict)  # paper id -> 1-2 sentences
    writer: str = "offline"  # "offline" or the model name
    fallback_reason: str | None = None


def first_sentence(text: str) -> str:
    return SENTENCE.split(text.strip(), maxsplit=1)[0] if text.strip() else ""


def write(session: Session, picks: list[Pick], *, locale: str = "en",
          topics: list[str] | None = None) -> Writing:
    if not picks:
        return Writing(theme="", preheader="", synthesis="")
    lead = picks[0].matched[0] if picks[0].matched else picks[0].paper.title
    lines = [f"{first_sentence(p.paper.abstract)} [{n}]" for n, p in enumerate(picks, 1)]
    return Writing(
        theme=lead,
        preheader=f"{len(picks)} new papers",
        synthesis=" ".join(lines),
        summaries={p.paper.id: first_sentence(p.paper.abstract) for p in picks},
    )
