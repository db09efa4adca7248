"""What kind of item a journal feed entry is: research, news, comment, editorial or correction.

Journal feeds mix research articles with magazine content (one real week of Nature's feed: 31
research articles, 44 news items). Readers come for the research, so every paper carries its
type and ranking puts research first, leaving the rest out unless the subscriber asks for news.

The evidence, strongest first: a correction's title says so ("Author Correction: ...", APS's
"Erratum: ...", PNAS's "Correction for ...", JAMA's "Error in Figure"); a standing column's
title (Science's "News at a glance", "In Science Journals"; PNAS's "In This Issue"; IEEE's yearly
index); the publisher's own section or type (`prism:section`, `dc:type`, a category such as
"Editorial", The Lancet's and Cell's "[Comment] ..." title prefix); the DOI's publisher
conventions (Springer Nature's magazine DOIs 10.1038/d4xxxx against research 10.1038/s4xxxx;
NEJM's NEJMoa original articles, NEJMe editorials, NEJMp perspectives, NEJMc letters); what
the description says the item is (JAMA: "This Viewpoint discusses ...", "This cohort study
examines ..."); and, last, for items in no section, the printed length in Atypon's citation
line ("Page 871-871": a piece of three pages or fewer is a magazine piece). A section the publisher
named but we have no rule for means research (its own article types: TAXON's "NOMENCLATURE").
Without evidence an item is research: preprints and most journal feeds are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RESEARCH, NEWS, COMMENT, EDITORIAL, CORRECTION = (
    "research", "news", "comment", "editorial", "correction")
TYPES = (RESEARCH, NEWS, COMMENT, EDITORIAL, CORRECTION)

_CORRECTION_TITLE = re.compile(
    r"^\s*(?:(?:author|publisher)\s+correction|correction(?:\s+to)?|addition\s*/\s*correction"
    r"|erratum|errata|corrigendum|retraction(?:\s+note)?|(?:editorial\s+)?expression\s+of\s+concern"
    r"|addendum"
    r"|publisher'?s\s+note|notice\s+of\s+retraction)\b",
    re.IGNORECASE,
)
# JAMA Network's correction notices: short titles such as "Error in Figure", "Errors in Table 2
# and Figure 3", "Incorrect Affiliation", "Omitted Funding Information".
_NOTICE_TITLE = re.compile(
    r"^\s*(?:errors?\s+in|incorrect|omitted|missing)\b.{0,50}?\b(?:e?figures?|e?tables?|supplements?|text|data"
    r"|authors?|affiliations?|names?|results|abstract|byline|funding|information|key\s+points"
    r"|methods|discussion|references?|legends?|labels?|titles?|units|values|conflicts?)\b",
    re.IGNORECASE,
)
NOTICE_MAX_CHARS = 60
# ... and nothing but notice words: "Missing data imputation with diffusion models" is research.
_NOTICE_WORD = re.compile(
    r"(?:errors?|incorrect|omitted|omissions?|missing|and|or|in|of|the|to|for|from|with|on|a|an"
    r"|e?(?:figures?|tables?|methods|appendix|appendices|references?|discussion|results)"
    r"|text|data|authors?|author's|affiliations?|names?|abstract|visual|byline|funding"
    r"|information|key|points|legends?|labels?|titles?|units|values|conflicts?|interest"
    r"|disclosures?|supplements?|supplementary|supplemental|contributions?|acknowledg?ments?"
    r"|introduction|conclusions?|corresponding|degrees?|wording|spelling|panel|axis|captions?"
    r"|members?|group|nonauthor|collaborators?|percentages?|numbers?|dosages?|doses?"
    r"|[A-Z]?\d+[A-Za-z]?|[ivx]+)",
    re.IGNORECASE,
)
_TITLE_WORD = re.compile(r"[\w'’]+")
# Standing columns and journal furniture, by their fixed titles.
_NEWS_TITLE = re.compile(
    r"^\s*(?:news at a glance|in science journals|in other journals|this week in science"
    r"|in this issue|editors'? choice|research highlights?|cover picture|inside cover"
    r"|frontispiece|issue information|table of contents|\d{4}\s+index\b"
    r"|information for authors|editorial board)\b",
    re.IGNORECASE,
)
# "This Viewpoint discusses ...", "This randomized clinical trial compares ..." (JAMA Network).
_LEAD_TYPE = re.compile(
    r"^\s*This\s+((?:[\w&'’-]+\s+){0,3}?[\w&'’-]+)\s+(?:article\s+)?(?:discusses|describes"
    r"|summarizes|examines|compares|reports|assesses|evaluates|investigates|estimates|reviews"
    r"|analyzes|characterizes|quantifies|presents|explores|uses|identifies|develops|tests)\b"
)
# Atypon's citation line: "Science, Volume 390, Issue 6777, Page 871-871, November 2026."
_PAGES = re.compile(r", Volume \d+, Issue [\w-]+, Page (\d+)-(\d+),")
SHORT_PIECE_PAGES = 3  # a real week of Science: research ran 6-8 pages, news and views 1-3
# A section or type name -> the type; the first pattern that matches wins.
_SECTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in (
        (r"correction|errat(?:um|a)\b|corrigendum|retraction|expression of concern|addendum"
         r"|department of error", CORRECTION),
        (r"editorial", EDITORIAL),
        (r"news|research highlight|\bfeatures?\b|career|obituar|book|outlook|spotlight|in brief"
         r"|this week|podcast|briefing|q&a|technology feature|in the spotlight|world report"
         r"|cover picture|inside cover|frontispiece|issue information|medical news", NEWS),
        (r"comment|correspondence|perspective|opinion|point of view|viewpoint|world view"
         r"|letter to the editor|commentary|essay|policy forum|debate|matters arising"
         r"|preview|insight|highlight", COMMENT),
        (r"research|article|letter|report|review|analysis|method|resource|brief communication"
         r"|paper|study|trial", RESEARCH),
    )
)
_SPRINGER_NATURE = re.compile(r"^10\.1038/([ds])\d")  # d41586-...: magazine; s41586-...: research
_NEJM = re.compile(r"^10\.1056/nejm(oa|ra|cp|sa|cps|ms|e|p|c|x|icm|clde)\d", re.IGNORECASE)
_NEJM_TYPES = {"oa": RESEARCH, "ra": RESEARCH, "cp": RESEARCH, "sa": RESEARCH, "cps": RESEARCH,
               "ms": RESEARCH, "e": EDITORIAL, "p": COMMENT, "c": COMMENT, "x": CORRECTION,
               "icm": NEWS, "clde": RESEARCH}


def classify(title: str, doi: str | None = None, sections: Iterable[str] = (),
             lead: str = "") -> str:
    """The type of one item from its title, DOI, the feed's section/type labels and the
    start of its description (`lead`)."""
    if _CORRECTION_TITLE.match(title or "") or _is_notice(title or ""):
        return CORRECTION
    if _NEWS_TITLE.match(title or ""):
        return NEWS
    labelled = False
    for section in sections:
        labelled = labelled or bool(section.strip())
        if kind := _section_kind(section):
            return kind
    doi = (doi or "").lower()
    if found := _SPRINGER_NATURE.match(doi):
        return NEWS if found.group(1) == "d" else RESEARCH
    if found := _NEJM.match(doi):
        return _NEJM_TYPES[found.group(1).lower()]
    if labelled:  # the publisher named a section we have no rule for: its own article types
        return RESEARCH
    if (said := _LEAD_TYPE.match(lead or "")) and (kind := _head_kind(said.group(1))):
        return kind
    if (pages := _PAGES.search(lead or "")) and (
            0 <= int(pages.group(2)) - int(pages.group(1)) < SHORT_PIECE_PAGES):
        return COMMENT
    return RESEARCH


def _is_notice(title: str) -> bool:
    """A JAMA-style correction notice: short, opening like one, and only notice words."""
    return (len(title) <= NOTICE_MAX_CHARS and bool(_NOTICE_TITLE.match(title))
            and all(_NOTICE_WORD.fullmatch(w) for w in _TITLE_WORD.findall(title)))


def _head_kind(phrase: str) -> str | None:
    """The type a lead's noun phrase names by its head, the last word ("This Medical News
    article", "This cohort study"), from its start: "This notebook" is no book review, "This
    opinion dynamics model" no opinion piece."""
    head = phrase.split()[-1]
    for pattern, kind in _SECTIONS:
        if (found := pattern.search(head)) and found.start() == 0:
            return kind
    return None


def _section_kind(section: str) -> str | None:
    for pattern, kind in _SECTIONS:
        if section and pattern.search(section):
            return kind
    return None
