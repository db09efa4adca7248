"""Author names: one splitter for every feed kind, reading each author string as a whole.

The fixtures (tests/fixtures/feeds/authors_*, journal_authors.rss.xml, joss.atom.xml,
science_identifiers.rdf.xml) are ours, written in the real formats of rss.arxiv.org, the arXiv
API, bioRxiv's RDF and JSON, and journal feeds, with the author shapes found in the real
captures: initials, particles, suffixes, collaborations, CJK names, TeX accents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.harvest.authors import split_authors
from newsletter.harvest.feeds import parse

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def authors(name: str, kind: str) -> dict[str, list[str]]:
    return {p.id: p.authors for p in parse(kind, (FEEDS / name).read_bytes())}


# -- the rule, on one string -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    # "Last, I." pairs, lower-cased as bioRxiv sometimes serves them: capitalised
    ("Zhang, a., jiang, x., zhang, x.", ["Zhang A.", "Jiang X.", "Zhang X."]),
    ("LAPALU, N., Plaumann, P.-L., O'Connell, R. J.", ["LAPALU N.", "Plaumann P.-L.",
                                                       "O'Connell R. J."]),
    ("van der berg, j., o'connell, r.", ["van der Berg J.", "O'Connell R."]),
    # "First Last" lists: a mononym, initials first, particles, doubled spaces
    ("Anamta Khan, Ratna Kandala,  Deepti, Sheza Munir", ["Anamta Khan", "Ratna Kandala",
                                                          "Deepti", "Sheza Munir"]),
    ("M. Uhrová, N.C Bennett, B. Jansen van Vuuren", ["M. Uhrová", "N.C Bennett",
                                                      "B. Jansen van Vuuren"]),
    # and / & before the last author, with or without the serial comma
    ("Alice Smith, Bob Jones and Carol White", ["Alice Smith", "Bob Jones", "Carol White"]),
    ("Alice Smith, Bob Jones, & Carol White", ["Alice Smith", "Bob Jones", "Carol White"]),
    ("Smith, J. and Jones, K.", ["Smith J.", "Jones K."]),
    # suffixes stay with their person, in either order
    ("Edward J. Evans, Jr., Alice Smith", ["Edward J. Evans Jr.", "Alice Smith"]),
    ("King, M. L., Jr., Smith, A.", ["King M. L. Jr.", "Smith A."]),
    # collaborations are never inverted nor split, and do not break the pairs around them
    ("ATLAS and CMS Collaborations", ["ATLAS and CMS Collaborations"]),
    ("IGVF Consortium, Aad, G., Li, W.", ["IGVF Consortium", "Aad G.", "Li W."]),
    # one person written "Last, First"
    ("Smith, John", ["John Smith"]),
    # semicolons separate people; a comma inside one of them inverts
    ("Okonkwo, C. A.; Lindqvist, E.; Müller, Jörg", ["Okonkwo C. A.", "Lindqvist E.",
                                                      "Jörg Müller"]),
    # CJK: ideographic and full-width separators, no inversion, parentheses kept whole
    ("张伟，李娜、王芳", ["张伟", "李娜", "王芳"]),
    ("张伟, 李娜", ["张伟", "李娜"]),
    ("Wei Zhang (张伟), Ada Lovelace (Univ. London, UK)", ["Wei Zhang (张伟)",
                                                          "Ada Lovelace (Univ. London, UK)"]),
    # TeX accents and HTML entities become the letters they stand for
    (r"Tu\u{g}\c{c}e K{\i}z{\i}ltepe, Petter T\"ornberg", ["Tuğçe Kızıltepe", "Petter Törnberg"]),
    ("Rosa Ib&#225;&#241;ez", ["Rosa Ibáñez"]),
    ("Smith, J., et al.", ["Smith J."]),
])
def test_it_reads_an_author_string_as_a_whole(raw, expected):
    assert split_authors([raw]) == expected


def test_it_reads_one_person_per_element_when_the_feed_gives_one_each():
    names = ["Smith, John", "van der Berg, Anna", "Evans, Edward J., Jr.", "Fuentes, a.",
             "ATLAS Collaboration", "张伟", "Ada Lovelace (Univ. London, UK)"]
    assert split_authors(names, single=True) == [
        "John Smith", "Anna van der Berg", "Edward J. Evans Jr.", "Fuentes A.",
        "ATLAS Collaboration", "张伟", "Ada Lovelace (Univ. London, UK)"]


def test_it_drops_empty_strings():
    assert split_authors(["", "  ", " , ", "\n"]) == []


# -- every parser kind uses it -----------------------------------------------------------------


def test_arxiv_rss_creators_in_every_shape():
    papers = authors("authors_arxiv_rss.xml", "arxiv_rss")
    assert papers["arxiv:2611.30001"] == [
        "Tuğçe Kızıltepe", "John van der Oost", "Deepti", "Edward J. Evans Jr.",
        "Martin L. King Jr.", "N.C Bennett", "J.H. Visser"]
    assert papers["arxiv:2611.30002"] == [
        "ATLAS Collaboration", "G. Aad", "B. Abbott", "Cássio van den Berg"]
    assert papers["arxiv:2611.30003"] == [
        "Wei Zhang (张伟)", "王芳", "Petter Törnberg", "José Vega-Sánchez"]
    assert papers["arxiv:2611.30004"] == ["Zhang A.", "Jiang X.", "Zhang X."]


def test_arxiv_api_names_one_per_author_element():
    papers = authors("authors_arxiv_api.atom.xml", "arxiv_api")
    assert papers["arxiv:2611.30002"] == [
        "ATLAS Collaboration", "Cássio van den Berg", "Edward J. Evans Jr.", "张伟"]
    assert papers["arxiv:hep-ex/0309017"] == ["José García", "Plaumann P.-L.", "Smith J. R."]


def test_biorxiv_rdf_creators_last_name_initials():
    papers = authors("authors_biorxiv.rdf.xml", "biorxiv")
    assert papers["doi:10.1101/2026.11.20.689101"] == ["Zhang A.", "Jiang X.", "Zhang X."]
    assert papers["doi:10.1101/2026.11.18.688902"] == [
        "van der Berg J.", "O'Connell R. J.", "King M. L. Jr.", "Dallery J.-F.", "LAPALU N."]
    assert papers["doi:10.1101/2026.11.21.689255"] == [
        "IGVF Consortium", "Aad G.", "Li W.", "Müller J."]


def test_biorxiv_api_authors_separated_by_semicolons():
    papers = authors("authors_biorxiv_details.json", "biorxiv")
    assert papers["doi:10.1101/2026.11.20.689101"] == ["Zhang A.", "Jiang X.", "Zhang X."]
    assert papers["doi:10.1101/2026.11.21.689255"] == [
        "IGVF Consortium", "van der Berg J.", "King M. L. Jr.", "张伟", "Jörg Müller"]


def test_the_same_preprint_gets_the_same_authors_from_the_rdf_and_the_api():
    rdf = authors("authors_biorxiv.rdf.xml", "biorxiv")
    api = authors("authors_biorxiv_details.json", "biorxiv")
    paper = "doi:10.1101/2026.11.20.689101"
    assert rdf[paper] == api[paper]


def test_journal_feeds_in_every_shape():
    papers = authors("journal_authors.rss.xml", "rss")
    assert papers["doi:10.1002/jfl.99001"] == [  # Wiley: commas and newlines
        "Rachel M. Binks", "The Brazil Flora Group", "Edward J. Evans Jr"]
    assert papers["doi:10.1103/physrevlett.136.010001"] == [  # ", and" before the last
        "J. H. Visser", "B. Jansen van Vuuren", "R. Šumbera"]
    assert papers["doi:10.5555/jfl.2026.0007"] == [  # one "Last, First" creator each
        "John Smith", "Anna van der Berg", "Edward J. Evans Jr."]
    assert papers[  # ScienceDirect: only in the description's "Author(s):" line
        "url:https://www.sciencedirect.example.org/science/article/pii/S1055790326002906"
    ] == ["M. Uhrová", "O. Mikula", "N.C Bennett", "B. Jansen van Vuuren"]
    assert papers["doi:10.5555/jfl.2026.0008"] == ["张伟", "李娜", "王芳"]


def test_old_science_rdf_creators_last_name_initials():
    papers = authors("science_identifiers.rdf.xml", "rss")
    assert papers["doi:10.1126/science.adq4521"] == ["Fuentes A.", "van der Berg J.",
                                                     "Smith J. R."]
    assert papers["doi:10.1126/science.adq9000"] == ["Fuentes A."]


def test_joss_atom_author_lists_by_name_or_by_name_parts():
    papers = authors("joss.atom.xml", "rss")
    assert papers["doi:10.21105/joss.09001"] == ["Ada Lovelace", "Cássio van den Berg", "张伟"]
    assert papers["doi:10.21105/joss.09002"] == ["Mattan S. Ben-Shachar", "Daniel Lüdecke"]

