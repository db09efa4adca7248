"""Conformance: every real captured feed in ../shared/fixtures/feeds parses to the right papers.

These files are what arXiv, its API, bioRxiv and journal publishers really served (see their
SOURCES.md). They are read in place, never copied into the repository; the tests skip when
the shared folder is absent (set SHARED_DIR to point elsewhere).
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import re
from pathlib import Path

import pytest

from newsletter.harvest.feeds import FeedError, parse
from newsletter.harvest.harvester import paper_json

SHARED = Path(os.environ.get("SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
FEEDS = SHARED / "fixtures" / "feeds"

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(not FEEDS.is_dir(), reason=f"shared feed captures not found at {FEEDS}"),
]

ERROR_FILES = ("error",)
EMPTY_FILES = ("empty", "zero_results")


def kind_of(path: Path) -> str:
    for prefix in ("arxiv_api", "arxiv_rss", "biorxiv"):
        if path.name.startswith(prefix):
            return prefix
    return "rss"


def capture_files() -> list[Path]:
    if not FEEDS.is_dir():
        return []
    return sorted(p for p in FEEDS.rglob("*") if p.is_file() and p.suffix in (".xml", ".json"))


def raw_entry_count(text: str) -> int:
    return len(re.findall(r"<entry>|<item[\s>]", text))


def body_of(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".recorded.json"):
        import json

        return json.loads(text)["body"]
    return text


def papers_of(name: str) -> dict:
    path = next(p for p in capture_files() if p.name == name)
    return {p.id: p for p in parse(kind_of(path), path.read_bytes())}


@pytest.mark.parametrize("path", capture_files(), ids=lambda p: p.name)
def test_it_parses_every_real_capture_to_one_clean_paper_per_entry(path):
    kind = kind_of(path)
    if any(marker in path.name for marker in ERROR_FILES):
        with pytest.raises(FeedError, match="arXiv API error"):
            parse(kind, path.read_bytes())
        return
    papers = parse(kind, path.read_bytes())
    if any(marker in path.name for marker in EMPTY_FILES):
        assert papers == []
        return
    assert len(papers) == raw_entry_count(body_of(path)) > 0
    assert len({p.id for p in papers}) == len(papers)
    for paper in papers:
        row = paper_json(paper)
        assert re.match(r"^(arxiv:[\w.\-/]+|doi:10\.\d{4,9}/\S+|url:https?://\S+)$", row["id"])
        assert not re.search(r"v\d+$", row["id"]), "the canonical id has no version"
        assert row["title"] and row["title"] == row["title"].strip() and "  " not in row["title"]
        assert not re.search(r"<[a-z/][^>]*>|&[a-z]+;|&#|\\[a-zA-Z]+|\$", row["title"]), row[
            "title"
        ]
        for author in row["authors"]:  # one name each: "Last, I." reads "Last I."
            assert author and author == author.strip(), author
            assert "," not in re.sub(r"\([^)]*\)", "", author), author
        assert row["published"] is None or dt.date.fromisoformat(row["published"])
        if kind.startswith("arxiv"):
            assert row["source"] == "arxiv" and row["version"] >= 1
            assert (
                row["authors"]
                and row["categories"]
                and row["primary_category"] in row["categories"]
            )
            assert row["url"] == "https://arxiv.org/abs/" + row["id"].removeprefix("arxiv:")
            assert row["pdf_url"] == "https://arxiv.org/pdf/" + row["id"].removeprefix("arxiv:")
            assert row["abstract"] and not row["abstract"].startswith(("arXiv:", "Abstract:"))


def test_the_full_cs_cl_feed_keeps_announce_types_cross_lists_and_dois():
    papers = papers_of("arxiv_rss_cs.CL_2026-08-13.rss.xml")
    assert len(papers) == 139
    kinds = collections.Counter(p.announce_type for p in papers.values())
    assert kinds == {"new": 56, "cross": 36, "replace": 32, "replace-cross": 15}
    assert sum(1 for p in papers.values() if p.doi) == 7
    first = papers["arxiv:2608.11232"]
    assert first.title.startswith("Backtrader-Bench: Benchmarking LLM Agents")
    assert first.authors == ["Ruoxi Zhao", "Maziar Raissi"] and first.categories == [
        "cs.CL",
        "cs.AI",
    ]
    assert first.version == 1 and first.published == dt.date(2026, 8, 13)
    rex = papers["arxiv:2411.15122"]
    assert rex.version == 2 and rex.categories == ["cs.CV", "cs.AI", "cs.CL"]
    assert "Julián N. Acosta" in rex.authors and len(rex.authors) == 9
    assert any(p.title.startswith("CT-ΔBench: A Benchmark") for p in papers.values())
    assert all("Announce Type" not in p.abstract for p in papers.values())


def test_the_trimmed_feeds_split_doubled_spaces_between_names():
    paper = papers_of("arxiv_rss_cs.CL_2026-04-27_trimmed3_reserialized.rss.xml")[
        "arxiv:2604.22002"
    ]
    assert paper.authors == [
        "Anamta Khan",
        "Ratna Kandala",
        "Deepti",
        "Sheza Munir",
        "Joyojeet Pal",
    ]


def test_the_api_captures_give_versions_old_style_ids_and_dois():
    attention = papers_of("arxiv_api_2026_id_1706.03762.atom.xml")["arxiv:1706.03762"]
    assert attention.title == "Attention Is All You Need" and attention.version == 7
    assert attention.authors[0] == "Ashish Vaswani" and len(attention.authors) == 8
    maldacena = papers_of("arxiv_api_2026_id_hep-th_9711200.atom.xml")["arxiv:hep-th/9711200"]
    assert maldacena.version == 3 and maldacena.doi == "10.1023/a:1026654312961"
    assert maldacena.authors == ["Juan M. Maldacena"] and maldacena.primary_category == "hep-th"
    assert "large N limit" in maldacena.abstract and "$" not in maldacena.abstract
    old = papers_of("arxiv_api_2016_id_list_1111.2011v2.atom.xml")["arxiv:1111.2011"]
    assert old.version == 2
    astro = papers_of("arxiv_api_2026_id_astro-ph_0601001.recorded.json")
    assert list(astro) == ["arxiv:astro-ph/0601001"]


def test_the_biorxiv_capture_keeps_ten_authors_and_the_doi():
    [paper] = papers_of("biorxiv_genomics_2023-12_trimmed1_reindented.rdf.xml").values()
    assert paper.id == "doi:10.1101/2023.12.16.571984" and paper.source == "biorxiv"
    assert paper.title.startswith("Complete genome of the Medicago anthracnose fungus")
    assert len(paper.authors) == 10 and paper.authors[0] == "LAPALU N."
    assert paper.published == dt.date(2023, 12, 16) and paper.categories == ["genomics"]


def test_the_journal_captures_give_dois_journals_and_clean_titles():
    nature = papers_of("springernature_nature_2023-04.rdf.xml")
    assert len(nature) == 75 and all(p.journal == "Nature" for p in nature.values())
    assert "A LaCl3-based lithium superionic conductor compatible with lithium metal" in {
        p.title for p in nature.values()
    }
    sample = nature["doi:10.1038/s41586-023-06043-2"]
    assert sample.title == "Surveillance of SARS-CoV-2 at the Huanan Seafood Market"
    assert len(sample.authors) == 35 and sample.published == dt.date(2023, 4, 5)
    taxon = papers_of("wiley_taxon_2021-12.rss.xml")["doi:10.1002/tax.12650"]
    assert taxon.authors == [
        "Rachel M. Binks",
        "Margaret Heslewood",
        "Peter G. Wilson",
        "Margaret Byrne",
    ]
    assert taxon.journal == "TAXON" and taxon.abstract.startswith("Leptospermum is an ecologically")
    [joss] = papers_of("joss_published_2019-06_trimmed1.atom.xml").values()
    assert joss.id == "doi:10.21105/joss.01541"
    [mdpi] = papers_of("mdpi_fluids_2024-05_trimmed1.rdf.xml").values()
    assert mdpi.doi == "10.3390/fluids9060120" and len(mdpi.authors) == 3
    elsevier = papers_of("elsevier_sciencedirect_molecular-phylogenetics-evolution_2021-12.rss.xml")
    assert any(
        p.authors == ["Rachel S. Welt", "Christopher J. Raxworthy"] for p in elsevier.values()
    )


def test_the_biorxiv_capture_reads_every_last_name_initials_pair():
    [paper] = papers_of("biorxiv_genomics_2023-12_trimmed1_reindented.rdf.xml").values()
    assert paper.authors == ["LAPALU N.", "SIMON A.", "Lu A.", "Plaumann P.-L.", "Amselem J.",
                             "Pigne S.", "Auger A.", "Koch C.", "Dallery J.-F.",
                             "O'Connell R. J."]


def test_the_old_science_capture_prefers_the_doi_among_its_identifiers():
    science = papers_of("aaas_science_2021-05_trimmed2.rdf.xml")
    assert list(science) == ["doi:10.1126/science.abj4606", "doi:10.1126/science.372.6544.770"]
    editorial = science["doi:10.1126/science.abj4606"]
    assert editorial.authors == ["Fuentes A."] and editorial.journal == "Science"
    assert editorial.title == '"The Descent of Man," 150 years on'
    assert editorial.url == "http://science.sciencemag.org/cgi/content/short/372/6544/769"
    assert science["doi:10.1126/science.372.6544.770"].authors == []  # an empty dc:creator


def test_the_joss_capture_reads_the_author_list_by_name_parts():
    [joss] = papers_of("joss_published_2019-06_trimmed1.atom.xml").values()
    assert joss.authors == ["Dominique Makowski", "Mattan S. Ben-Shachar", "Daniel Lüdecke"]
    assert joss.doi == "10.21105/joss.01541" and joss.published == dt.date(2019, 6, 30)
    assert joss.pdf_url == "https://www.theoj.org/joss-papers/joss.01541/10.21105.joss.01541.pdf"


def test_the_mdpi_capture_reads_creators_doi_and_the_bare_title():
    [mdpi] = papers_of("mdpi_fluids_2024-05_trimmed1.rdf.xml").values()
    assert mdpi.id == "doi:10.3390/fluids9060120" and mdpi.journal == "Fluids"
    assert mdpi.authors == ["Jaan H. Pu", "Manish Pandey", "Prashanth Reddy Hanmaiahgari"]
    assert mdpi.title == (
        "Environmental Hydraulics, Turbulence, and Sediment Transport, Second Edition")
    assert mdpi.published == dt.date(2024, 5, 22)


def test_the_nature_capture_names_every_item_by_doi_with_one_creator_per_author():
    nature = papers_of("springernature_nature_2023-04.rdf.xml")
    assert all(re.match(r"doi:10\.1038/[sd]41586-023-\d{5}-\w$", i) for i in nature)
    assert sum(1 for p in nature.values() if not p.authors) == 14  # news items without creators
    assert nature["doi:10.1038/s41586-023-05999-5"].authors == [
        "Swapan K. Sahoo", "Geoffrey J. Gilleaudeau", "Kathleen Wilson", "Bruce Hart",
        "Ben D. Barnes", "Tytrice Faison", "Andrew R. Bowman", "Toti E. Larson",
        "Alan J. Kaufman"]
    assert nature["doi:10.1038/d41586-023-01006-z"].authors == ["Nick Petrić Howe",
                                                                 "Shamini Bundell"]


def test_the_wiley_capture_splits_the_one_creator_of_many_lines():
    wiley = papers_of("wiley_taxon_2021-12.rss.xml")
    assert len(wiley) == 66 and all(i.startswith("doi:10.1002/tax.") for i in wiley)
    flora = wiley["doi:10.1002/tax.12640"].authors
    assert flora[:3] == ["The Brazil Flora Group", "Janaína Gomes‐da‐Silva",
                         "Fabiana L.R. Filardi"]
    assert any(p.authors == ["WFO Team"] for p in wiley.values())
    assert sum(1 for p in wiley.values() if not p.authors) == 3  # typifications, issue info


def test_the_sciencedirect_capture_reads_authors_from_the_description_and_links_as_ids():
    elsevier = papers_of("elsevier_sciencedirect_molecular-phylogenetics-evolution_2021-12.rss.xml")
    assert len(elsevier) == 51 and all(
        re.match(r"url:https://www\.sciencedirect\.com/science/article/pii/S\d+\w?$", i)
        for i in elsevier)
    assert [p.title for p in elsevier.values() if not p.authors] == ["Editorial Board"]
    assert any(p.authors == ["M. Uhrová", "O. Mikula", "N.C Bennett", "P. Van Daele",
                             "L. Piálek", "J. Bryja", "J.H. Visser", "B. Jansen van Vuuren",
                             "R. Šumbera"] for p in elsevier.values())
    assert all(p.journal == "Molecular Phylogenetics and Evolution" for p in elsevier.values())
