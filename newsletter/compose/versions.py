"""One paper, two homes: the preprint and the journal version a card links (issue 17).

A work seen as an arXiv (or bioRxiv/medRxiv) preprint and as a journal article is one card.
It reaches compose in one of three shapes: one row the store merged by DOI (an arXiv row that
a journal item with its DOI filled, or the other way round), one arXiv row whose own feed
names the journal version (arXiv's `arxiv:DOI` and `journal_ref`), or two rows that ranking
grouped by title and a shared author (`Pick.versions`). `versions` finds both sides in any of
them; the card then says "Journal version: Nature" and "Preprint: arXiv:2611.30001", each a
link, instead of the bare DOI and Preprint links.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from newsletter.core.models import Paper

SOURCE_LABELS = {"arxiv": "arXiv", "biorxiv": "bioRxiv", "medrxiv": "medRxiv"}
JOURNAL, PREPRINT = "journal", "preprint"
_DOI_NAME = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV_PDF = re.compile(r"^https?://arxiv\.org/pdf/([^?#]+?)(?:\.pdf)?$")


@dataclass(frozen=True)
class Version:
    kind: str  # journal | preprint
    name: str  # "Nature", "Phys. Rev. B 110, 014501 (2024)", "arXiv:2611.30001"
    url: str


def is_preprint(paper: Paper) -> bool:
    return (paper.source or "").lower() in SOURCE_LABELS


def preprint_url(paper: Paper) -> str | None:
    """A journal paper merged with its arXiv preprint (the store keeps one row) links both:
    the journal through its URL and DOI, the preprint through its arXiv page."""
    found = _ARXIV_PDF.match(paper.pdf_url or "")
    if found and not paper.id.startswith("arxiv:"):
        return f"https://arxiv.org/abs/{found.group(1)}"
    return None


def doi_url(paper: Paper) -> str | None:
    """The DOI resolver's link for a journal's DOI (arXiv's own 10.48550 DOIs add nothing).
    Only a DOI makes one, percent-encoded so that '#', '?' or quotes in it stay in the path."""
    doi = (paper.doi or "").strip()
    if not _DOI_NAME.match(doi) or doi.startswith("10.48550/"):
        return None
    return "https://doi.org/" + quote(doi, safe="/:;()[]+")


def versions(paper: Paper, others: list[Paper], label: Callable[[Paper], str]
             ) -> list[Version]:
    """The journal side and the preprint side of the card's work, when it has both; [] for a
    paper seen once. `label` names a journal row as the badge does."""
    rows = [paper, *others]
    journal = _journal_side(rows, label)
    preprint = _preprint_side(rows, label)
    return [journal, preprint] if journal and preprint else []


def _journal_side(rows: list[Paper], label: Callable[[Paper], str]) -> Version | None:
    for row in rows:
        if not is_preprint(row) and (url := doi_url(row) or row.url):
            return Version(JOURNAL, label(row), url)
    for row in rows:  # a preprint whose own record names its journal version (not its own DOI)
        if row.id != f"doi:{row.doi}" and (url := doi_url(row)):
            return Version(JOURNAL, row.journal or row.doi or "", url)
    return None


def _preprint_side(rows: list[Paper], label: Callable[[Paper], str]) -> Version | None:
    for row in rows:
        if row.id.startswith("arxiv:"):
            ident = row.id.removeprefix("arxiv:")
            return Version(PREPRINT, f"arXiv:{ident}", f"https://arxiv.org/abs/{ident}")
        if is_preprint(row) and row.url:
            return Version(PREPRINT, f"{label(row)} {row.doi or ''}".strip(), row.url)
    for row in rows:  # a journal row the store merged its arXiv preprint into
        if url := preprint_url(row):
            return Version(PREPRINT, "arXiv:" + url.rsplit("/abs/", 1)[1], url)
    return None
