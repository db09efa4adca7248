"""Journal feeds (RSS 2.0, RSS 1.0/RDF with PRISM and Dublin Core, Atom) to normalized papers.

The `rss` kind of `feeds.parse`. Publishers differ in habits more than in formats, so the
habits are data (the tuples below): a new journal is usually a new entry there, not new code.
The id is `arxiv:` for arXiv's own items, else `doi:` when any field carries a DOI, else
`url:` with click-tracking parameters removed, so the same article seen through two feeds, or
through a journal and arXiv, is one paper in the store.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from newsletter.core.models import PaperBase
from newsletter.core.richtext import title_markup
from newsletter.harvest.articletype import classify
from newsletter.harvest.authors import split_authors
from newsletter.harvest.entries import arxiv_id, authors_of, doi_of, parse_date, terms
from newsletter.harvest.rawxml import ItemExtras
from newsletter.harvest.textclean import clean_text, collapse

# Publisher habits, as data.
# Lines of a journal item's description that are metadata, not the teaser (Nature's "Nature,
# Published online: ...; doi:...", ScienceDirect's "Publication date:", "Source:", "Author(s):").
BOILERPLATE_MARKERS = ("Published online:", "Publication date:", "<b>Source:</b>", "Author(s):")
# Where authors hide inside the description when a feed has no dc:creator (ScienceDirect).
AUTHOR_LINE_MARKERS = ("Author(s):",)
# Feed titles that wrap the journal's name ("ScienceDirect Publication: Cell Reports", "Wiley:
# TAXON: Table of Contents", ACS's "...: Latest Articles (ACS Publications)", IEEE's "... - new
# TOC", APS's "... - Recently published", JAMA's "JAMA Current Issue").
FEED_TITLE_PREFIXES = ("ScienceDirect Publication:", "Wiley:")
FEED_TITLE_SUFFIXES = (": Table of Contents", ": Latest Articles (ACS Publications)",
                       " - new TOC", " - Recently published", " Current Issue")
# Item titles that start with where the article appeared (MDPI: "Fluids, Vol. 9, Pages 120: ").
TITLE_PREFIXES = (r"[^:]{1,80}, Vol\. \d+, Pages [\w.-]+:",)
# Item titles that start with the article's type in brackets: The Lancet and Cell Press
# ("[Articles] ...", "[Comment] ...", "[Preview] ..."), ACS's "[ASAP] ..." (ahead of print).
# Letters only, so a chemistry title's "[2+2] Cycloaddition" stays whole.
BRACKET_SECTION = r"\[([A-Za-z][A-Za-z &'-]{1,30})\]"
# Query parameters that only track the click (`?rss=1`, `?rss=yes`, `?af=R`, `?dgcid=...`, `utm_*`).
TRACKING_PARAMS = (r"rss=(?:1|yes)", r"af=R", r"dgcid=[^&]*", r"utm_[a-z]+=[^&]*")
# Metadata lines at the start or end of a description, not the teaser: Atypon's citation line
# ("Science, Volume 390, Issue 6777, Page 912-918, November 2026.", "..., EarlyView.", "...,
# Ahead of Print."), ACS's "<cite>Journal</cite> DOI: ..." block, APS's "Author(s): ..." line and
# "[Phys. Rev. Lett. 137, 226401] Published Tue Nov 24, 2026", PLOS's "<p>by A, B</p>".
CITATION_LINE = (r"[^<>]{2,120}?, (?:Volume \d+, Issue [\w-]+(?:, Page (\d+)-(\d+))?, "
                 r"\w+(?: \d{1,2},)? \d{4}|Ahead of Print|EarlyView)\.")
DESCRIPTION_NOISE = (
    r"<div>\s*<cite>[^<]*</cite>\s*</div>\s*<div>\s*DOI:[^<]*</div>",
    r"Author\(s\):[^<]*(?:<br\s*/?>|(?=</p>))",
    r"\[[^\]<>]{3,80}\]\s*Published\s+\w{3}\s+\w{3}\s+\d{1,2},\s+\d{4}",
    r"(?-i:^\s*<p>\s*by )[^<]{1,1000}</p>",  # lower-case only: "<p>By 2050, ..." is the text
)
# A description that is only the author list and the citation (JMLR: "A, B; (27):1-52, 2026.").
AUTHORS_AND_CITATION = r"^\s*([^;<>]{3,1000});\s*\(\d+\):[\w−–-]+, \d{4}\.?\s*$"
# Where a publisher's DOI can be read from the link when no field gives it: The Lancet's PII
# (PIIS0140-6736(26)02117-3 is 10.1016/S0140-6736(26)02117-3), eLife's article number.
LINK_DOIS = (
    (r"thelancet\.com/journals/\w+/article/PII(S\d{4}-\d{3}[\dX]\(\d{2}\)\d{5}-[\dX])",
     "10.1016/{0}"),
    (r"elifesciences\.org/articles/(\d+)$", "10.7554/eLife.{0}"),
)

_BOILERPLATE = re.compile(
    r"<p>\s*[^<]{0,120}?(?:" + "|".join(map(re.escape, BOILERPLATE_MARKERS)) + r").*?</p>",
    re.IGNORECASE | re.DOTALL,
)
_AUTHOR_LINE = re.compile(
    r"(?:" + "|".join(map(re.escape, AUTHOR_LINE_MARKERS)) + r")\s*(.*?)</p>",
    re.IGNORECASE | re.DOTALL,
)
_FEED_TITLE_AFFIX = re.compile(
    r"^(?:" + "|".join(map(re.escape, FEED_TITLE_PREFIXES)) + r")\s*"
    r"|\s*(?:" + "|".join(map(re.escape, FEED_TITLE_SUFFIXES)) + r")$", re.IGNORECASE
)
_TITLE_PREFIX = re.compile(r"^(?:" + "|".join(TITLE_PREFIXES) + r")\s*")
_BRACKET_SECTION = re.compile(r"^\s*" + BRACKET_SECTION + r"\s*")
_TRACKING = re.compile(r"[?&](?:" + "|".join(TRACKING_PARAMS) + r")(?=&|$)", re.IGNORECASE)
_CITATION_LINE = re.compile(r"^\s*" + CITATION_LINE + r"\s*(?:<br\s*/?>)?")
_DESCRIPTION_NOISE = re.compile("|".join(DESCRIPTION_NOISE), re.IGNORECASE)
_AUTHORS_AND_CITATION = re.compile(AUTHORS_AND_CITATION)
_LINK_DOIS = tuple((re.compile(pattern, re.IGNORECASE), template)
                   for pattern, template in LINK_DOIS)


def journal_paper(
    entry: Any, feed: Any, source: str | None, extra: ItemExtras
) -> PaperBase | None:
    """One journal item; None when it has neither a DOI nor a link to name it by."""
    link = _TRACKING.sub("", entry.get("link") or entry.get("prism_url") or "").rstrip("?&")
    doi = doi_of(entry, extra) or _link_doi(link)
    if "arxiv.org/abs/" in link:  # an arXiv feed read as plain RSS still gets arXiv ids
        found = arxiv_id(link)
    else:  # arXiv's own DOIs: 10.48550/arXiv.2401.12345
        found = arxiv_id(doi.rpartition("arxiv.")[2]) if doi and "/arxiv." in doi else None
    if found:
        paper_id = f"arxiv:{found[0]}"
    elif doi:
        paper_id = f"doi:{doi}"
    elif link:
        paper_id = f"url:{link}"
    else:
        return None
    journal = collapse(
        entry.get("prism_publicationname")
        or feed.get("prism_publicationname")
        or _FEED_TITLE_AFFIX.sub("", feed.get("title", ""))
        or source
        or ""
    )
    authors = authors_of(entry, extra)
    texts = [entry.get("summary", "")] + [c.get("value", "") for c in entry.get("content") or []]
    if not authors:
        authors = _authors_in(texts)
    abstract = max((_journal_abstract(t) for t in texts), key=len, default="")
    pdf = entry.get("pdf_url") or next(
        (link["href"] for link in entry.get("links", []) if link.get("type") == "application/pdf"),
        None,
    )
    categories = terms(entry)
    raw_title = entry.get("title") or ""
    bracket = _BRACKET_SECTION.match(clean_text(raw_title))
    if bracket:  # "[Articles] ..." -> the title, and "Articles" as the section
        raw_title = _BRACKET_SECTION.sub("", raw_title, count=1)
    title = _TITLE_PREFIX.sub("", clean_text(raw_title))
    markup = title_markup(raw_title)
    sections = [entry.get("prism_section") or "", entry.get("dc_type") or "",
                bracket.group(1) if bracket else "", *categories]
    return PaperBase(
        id=paper_id,
        title=title,
        title_html=_TITLE_PREFIX.sub("", markup) if markup else None,
        article_type=classify(title, doi, sections, lead=_lead(texts)),
        authors=authors,
        abstract=abstract,
        categories=categories,
        primary_category=categories[0] if categories else None,
        published=parse_date(
            entry.get("published")
            or entry.get("updated")
            or entry.get("prism_publicationdate")
            or entry.get("prism_coverdate")
        ),
        url=link or (f"https://doi.org/{doi}" if doi else ""),
        pdf_url=pdf,
        doi=doi,
        source=source or journal or "journal",
        journal=journal or None,
    )


def _link_doi(link: str) -> str | None:
    """A DOI that only the link carries, by the publisher's own convention (LINK_DOIS)."""
    for pattern, template in _LINK_DOIS:
        if found := pattern.search(unquote(link)):
            return template.format(*found.groups()).lower()
    return None


def _authors_in(texts: list[str]) -> list[str]:
    """Authors written into the description when no author field exists (ScienceDirect's
    "Author(s):" line, JMLR's "A, B; (27):1-52, 2026.")."""
    for text in texts:
        if found := _AUTHOR_LINE.search(text or ""):
            return split_authors([clean_text(found.group(1), tex=False)])
        if found := _AUTHORS_AND_CITATION.match(clean_text(text or "", tex=False)):
            return split_authors([found.group(1)])
    return []


def _lead(texts: list[str]) -> str:
    """What the description says the item is: its citation line (for the page count) and its
    first words (JAMA: "This Viewpoint discusses ...")."""
    return " ".join(collapse(t or "")[:300] for t in texts if t)


def _journal_abstract(raw: str) -> str:
    raw = _CITATION_LINE.sub(" ", raw or "")
    raw = _DESCRIPTION_NOISE.sub(" ", raw)
    text = clean_text(_BOILERPLATE.sub(" ", raw))
    if _AUTHORS_AND_CITATION.match(text):
        return ""
    return re.sub(r"^Abstract[:.]?\s+", "", text)
