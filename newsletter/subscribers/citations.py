"""Citations out: BibTeX and RIS files for a paper, a digest or a saved list.

The other half of `library.py`: what a reference manager (Zotero, JabRef, Mendeley) imports,
and what our own library import reads back. Well-kept writers do the formatting
(bibtexparser v2, rispy); this module only chooses the fields. Authors come out `Last, First`
through the one name reader (`harvest.authors.name_parts`); groups and CJK names stay whole
(braced in BibTeX, so BibTeX never inverts them). BibTeX's special characters are escaped and
Unicode is kept as it is (biber, Zotero and JabRef read UTF-8). Pure: papers in, text out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import bibtexparser
import rispy
from bibtexparser.model import Entry, Field

from newsletter.compose.render import safe_url
from newsletter.compose.view import SOURCE_LABELS
from newsletter.core.models import Paper
from newsletter.core.text import fold
from newsletter.harvest.authors import name_parts
from newsletter.harvest.entries import arxiv_id

# format -> (file extension, MIME type)
FORMATS = {"bibtex": ("bib", "application/x-bibtex"),
           "ris": ("ris", "application/x-research-info-systems")}
# TeX's special characters, written so that BibTeX and LaTeX print them as they are.
_BIBTEX_ESCAPES = str.maketrans({
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "$": r"\$",
    "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"})
_SMALL_WORDS = frozenset("a an the of on in for to and with from by at is are as via".split())


@dataclass(frozen=True)
class Citation:
    """What both formats say about one paper."""

    key: str
    title: str
    authors: list[str]  # names as stored ("Ada Lovelace", "Zhang A.", "ATLAS Collaboration")
    published: dt.date | None
    abstract: str
    url: str
    doi: str | None
    arxiv_id: str | None
    primary_class: str | None
    journal: str | None  # None for a preprint
    server: str | None  # arXiv, bioRxiv, medRxiv for a preprint


def citation(paper: Paper, key: str | None = None) -> Citation:
    source = (paper.source or "").lower()
    preprint = source in SOURCE_LABELS
    arxiv = paper.id.removeprefix("arxiv:") if paper.id.startswith("arxiv:") else None
    if arxiv is None and "arxiv.org/" in (paper.pdf_url or ""):  # a journal paper's preprint
        arxiv = (arxiv_id(paper.pdf_url) or (None,))[0]
    doi = (paper.doi or "").strip() or None
    return Citation(
        key=key or citekey(paper), title=paper.title, authors=list(paper.authors or []),
        published=paper.published, abstract=paper.abstract or "",
        url=safe_url(paper.url) or "",  # feed text: a javascript: link is no place to go
        doi=doi, arxiv_id=arxiv,
        primary_class=(paper.primary_category or None) if arxiv and source == "arxiv" else None,
        journal=None if preprint else (paper.journal or paper.source or None),
        server=SOURCE_LABELS.get(source))


def citekey(paper: Paper) -> str:
    """`lovelace2026engines`: first author's surname, year, first telling title word; the
    same paper always gets the same key."""
    first = (paper.authors or [""])[0]
    parts = name_parts(first)
    surname = _ascii_word(parts[0] if parts else first) or "anon"
    words = [_ascii_word(w) for w in paper.title.split()]
    word = next((w for w in words if w and w not in _SMALL_WORDS), "")
    year = str(paper.published.year) if paper.published else ""
    return f"{surname}{year}{word}"


def _ascii_word(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isascii() and ch.isalnum())[:24]


def citations(papers: Iterable[Paper]) -> list[Citation]:
    """One citation per paper, in order, with keys made unique inside the file
    (`…a`, `…b` for a second and third paper with the same key)."""
    out: list[Citation] = []
    seen: dict[str, int] = {}
    for paper in papers:
        key = citekey(paper)
        count = seen.get(key, 0)
        seen[key] = count + 1
        out.append(citation(paper, key + (_suffix(count) if count else "")))
    return out


def _suffix(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


# --- BibTeX -------------------------------------------------------------------------------

def bibtex_escape(text: str) -> str:
    return " ".join(text.split()).translate(_BIBTEX_ESCAPES)


def bibtex_verbatim(text: str) -> str:
    """A URL or DOI (fields reference managers read verbatim, so no TeX escapes): no
    whitespace, and the characters that would close the braced value percent-encoded."""
    return "".join(text.split()).replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def bibtex_name(name: str) -> str:
    """`Lovelace, Ada` (`King, Jr., Martin Luther`), or `{ATLAS Collaboration}` whole."""
    parts = name_parts(name)
    if parts is None:
        return "{" + bibtex_escape(name) + "}"
    surname, given, suffix = (bibtex_escape(p) for p in parts)
    if " " in surname and not surname.split(" ")[0].islower():
        surname = "{" + surname + "}"  # a two-word surname is one surname
    return ", ".join(p for p in (surname, suffix, given) if p)


def to_bibtex(papers: Iterable[Paper]) -> str:
    library = bibtexparser.Library()
    for c in citations(papers):
        fields = [("title", bibtex_escape(c.title)),
                  ("author", " and ".join(bibtex_name(a) for a in c.authors if a.strip()))]
        if c.published:
            fields += [("year", str(c.published.year)), ("month", str(c.published.month)),
                       ("date", c.published.isoformat())]
        if c.journal:
            fields.append(("journal", bibtex_escape(c.journal)))
        elif c.server and not c.arxiv_id:
            fields.append(("publisher", bibtex_escape(c.server)))
        fields += [("abstract", bibtex_escape(c.abstract)), ("url", bibtex_verbatim(c.url)),
                   ("doi", bibtex_verbatim(c.doi or ""))]
        if c.arxiv_id:
            fields += [("eprint", bibtex_verbatim(c.arxiv_id)), ("archiveprefix", "arXiv"),
                       ("primaryclass", bibtex_escape(c.primary_class or ""))]
        library.add(Entry("article" if c.journal else "misc", c.key,
                          [Field(k, v) for k, v in fields if v]))
    return bibtexparser.write_string(library)


# --- RIS ----------------------------------------------------------------------------------

class _RisWriter(rispy.RisWriter):
    """rispy's writer without its `1.` counter line before each record."""

    def set_header(self, count: int) -> str:
        return ""


def ris_name(name: str) -> str:
    parts = name_parts(name)
    if parts is None:
        return " ".join(name.split())
    surname, given, suffix = parts
    return ", ".join(p for p in (surname, given, suffix) if p)


def to_ris(papers: Iterable[Paper]) -> str:
    records = []
    for c in citations(papers):
        record: dict = {
            "type_of_reference": "JOUR" if c.journal else "UNPB", "id": c.key,
            "title": " ".join(c.title.split()),
            "authors": [ris_name(a) for a in c.authors if a.strip()],
            "abstract": " ".join(c.abstract.split()), "urls": [c.url] if c.url else [],
        }
        if c.published:
            record["year"] = str(c.published.year)
            record["date"] = c.published.strftime("%Y/%m/%d/")
        if c.doi:
            record["doi"] = c.doi
        if c.journal:
            record["journal_name"] = c.journal
        elif c.server:
            record["publisher"] = c.server
        if c.arxiv_id:
            record["notes"] = [f"arXiv:{c.arxiv_id}" + (f" [{c.primary_class}]"
                                                         if c.primary_class else "")]
        records.append({k: _one_line(v) for k, v in record.items() if v})
    return rispy.dumps(records, implementation=_RisWriter)


def _one_line(value: str | list[str]) -> str | list[str]:
    """A RIS value on one line: a line break in feed text would start a tag of its own."""
    if isinstance(value, list):
        return [" ".join(item.split()) for item in value]
    return " ".join(value.split())


def render(papers: Iterable[Paper], fmt: str) -> str:
    """The file in `fmt` (a key of FORMATS)."""
    return to_ris(papers) if fmt == "ris" else to_bibtex(papers)

