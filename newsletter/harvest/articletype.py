"""What kind of item a journal feed entry is: research, news, comment, editorial or correction.

Journal feeds mix research articles with magazine content (one real week of Nature's feed: 31
research articles, 44 news items). Readers come for the research, so every paper carries its
type and ranking puts research first, leaving the rest out unless the subscriber asks for news.

The evidence, strongest first: a correction's title says so ("Author Correction: ..."); the
publisher's own section or type (`prism:section`, `dc:type`, a category such as "Editorial");
the DOI's publisher conventions (Springer Nature's magazine DOIs 10.1038/d4xxxx against
research 10.1038/s4xxxx; NEJM's NEJMoa original articles, NEJMe editorials, NEJMp perspectives,
NEJMc letters). Without evidence an item is research: preprints and most journal feeds are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RESEARCH, NEWS, COMMENT, EDITORIAL, CORRECTION = (
    "research", "news", "comment", "editorial", "correction")
TYPES = (RESEARCH, NEWS, COMMENT, EDITORIAL, CORRECTION)

_CORRECTION_TITLE = re.compile(
    r"^\s*(?:(?:author|publisher)\s+correction|correction(?:\s+to)?|addition\s*/\s*correction"
    r"|erratum|corrigendum|retraction(?:\s+note)?|expression\s+of\s+concern|addendum)\b",
    re.IGNORECASE,
)
# A section or type name -> the type; the first pattern that matches wins.
_SECTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in (
        (r"correction|erratum|corrigendum|retraction|expression of concern|addendum", CORRECTION),
        (r"editorial", EDITORIAL),
        (r"news|research highlight|feature|career|obituar|book|outlook|spotlight|in brief"
         r"|this week|podcast|briefing|q&a|technology feature|in the spotlight", NEWS),
        (r"comment|correspondence|perspective|opinion|point of view|viewpoint|world view"
         r"|letter to the editor|commentary|essay|policy forum|debate|matters arising", COMMENT),
        (r"research|article|letter|report|review|analysis|method|resource|brief communication"
         r"|paper|study|trial", RESEARCH),
    )
)
_SPRINGER_NATURE = re.compile(r"^10\.1038/([ds])\d")  # d41586-...: magazine; s41586-...: research
_NEJM = re.compile(r"^10\.1056/nejm(oa|ra|cp|sa|cps|ms|e|p|c|x|icm|clde)\d", re.IGNORECASE)
_NEJM_TYPES = {"oa": RESEARCH, "ra": RESEARCH, "cp": RESEARCH, "sa": RESEARCH, "cps": RESEARCH,
               "ms": RESEARCH, "e": EDITORIAL, "p": COMMENT, "c": COMMENT, "x": CORRECTION,
               "icm": NEWS, "clde": RESEARCH}


def classify(title: str, doi: str | None = None, sections: Iterable[str] = ()) -> str:
    """The type of one item from its title, DOI and the feed's section/type labels."""
    if _CORRECTION_TITLE.match(title or ""):
        return CORRECTION
    for section in sections:
        for pattern, kind in _SECTIONS:
            if section and pattern.search(section):
                return kind
    doi = (doi or "").lower()
    if found := _SPRINGER_NATURE.match(doi):
        return NEWS if found.group(1) == "d" else RESEARCH
    if found := _NEJM.match(doi):
        return _NEJM_TYPES[found.group(1).lower()]
    return RESEARCH
