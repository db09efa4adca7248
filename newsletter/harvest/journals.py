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
# Feed titles that wrap the journal's name ("ScienceDirect Publication: Cell Reports").
FEED_TITLE_PREFIXES = ("ScienceDirect Publication:",)
# Item titles that start with where the article appeared (MDPI: "Fluids, Vol. 9, Pages 120: ").
TITLE_PREFIXES = (r"[^:]{1,80}, Vol\. \d+, Pages [\w.-]+:",)
# Query parameters that only track the click (`?rss=1`, `?af=R`, `?dgcid=...`, `utm_*`).
TRACKING_PARAMS = (r"rss=1", r"af=R", r"dgcid=[^&]*", r"utm_[a-z]+=[^&]*")

_BOILERPLATE = re.compile(
    r"<p>\s*[^<]{0,120}?(?:" + "|".join(map(re.escape, BOILERPLATE_MARKERS)) + r").*?</p>",
    re.IGNORECASE | re.DOTALL,
)
_AUTHOR_LINE = re.compile(
    r"(?:" + "|".join(map(re.escape, AUTHOR_LINE_MARKERS)) + r")\s*(.*?)</p>",
    re.IGNORECASE | re.DOTALL,
)
_FEED_TITLE_PREFIX = re.compile(
    r"^(?:" + "|".join(map(re.escape, FEED_TITLE_PREFIXES)) + r")\s*", re.IGNORECASE
)
_TITLE_PREFIX = re.compile(r"^(?:" + "|".join(TITLE_PREFIXES) + r")\s*")
_TRACKING = re.compile(r"[?&](?:" + "|".join(TRACKING_PARAMS) + r")", re.IGNORECASE)


def journal_paper(
    entry: Any, feed: Any, source: str | None, extra: ItemExtras
) -> PaperBase | None:
    """One journal item; None when it has neither a DOI nor a link to name it by."""
    link = _TRACKING.sub("", entry.get("link") or entry.get("prism_url") or "").rstrip("?&")
    doi = doi_of(entry, extra)
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
        or _FEED_TITLE_PREFIX.sub("", feed.get("title", ""))
        or source
        or ""
    )
    authors = authors_of(entry, extra)
    texts = [entry.get("summary", "")] + [c.get("value", "") for c in entry.get("content") or []]
    if not authors:
        for text in texts:
            if found_authors := _AUTHOR_LINE.search(text or ""):
                authors = split_authors([clean_text(found_authors.group(1), tex=False)])
                break
    abstract = max((_journal_abstract(t) for t in texts), key=len, default="")
    pdf = entry.get("pdf_url") or next(
        (link["href"] for link in entry.get("links", []) if link.get("type") == "application/pdf"),
        None,
    )
    categories = terms(entry)
    title = _TITLE_PREFIX.sub("", clean_text(entry.get("title")))
    markup = title_markup(entry.get("title"))
    sections = [entry.get("prism_section") or "", entry.get("dc_type") or "", *categories]
    return PaperBase(
        id=paper_id,
        title=title,
        title_html=_TITLE_PREFIX.sub("", markup) if markup else None,
        article_type=classify(title, doi, sections),
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


def _journal_abstract(raw: str) -> str:
    text = clean_text(_BOILERPLATE.sub(" ", raw or ""))
    return re.sub(r"^Abstract[:.]?\s+", "", text)
